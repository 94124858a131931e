import type Database from 'better-sqlite3';
import { HISTORY_DEPTH, seriesOf } from '../../core/series.js';
import type { Status } from '../../core/statuses.js';
import { executionDurationMs, reportTests } from '../../report/run-report.js';
import { RunFactsQuery } from './run-facts.js';

/**
 * Records a finished run's test outcomes and folds them into its series' history, inside the transaction that
 * stores the run's final status: on the writer thread, so a large run's history never holds up the engine.
 */
export class HistoryWriter {
  private readonly facts: RunFactsQuery;
  private readonly stmt;

  constructor(db: Database.Database) {
    this.facts = new RunFactsQuery(db);
    this.stmt = {
      run: db.prepare<[string], { name: string; labels: string; created_at: number }>('SELECT name, labels, created_at FROM runs WHERE id = ?'),
      placeRun: db.prepare('INSERT OR IGNORE INTO run_series (run_id, series, created_at, finished_at) VALUES (?, ?, ?, ?)'),
      outcome: db.prepare('INSERT INTO test_outcomes (run_id, pos, name, status, duration_ms, flaky) VALUES (?, ?, ?, ?, ?, ?)'),
      history: db.prepare<[string, string], { outcomes: string }>('SELECT outcomes FROM test_history WHERE series = ? AND name = ?'),
      saveHistory: db.prepare('INSERT OR REPLACE INTO test_history (series, name, outcomes, duration_ms) VALUES (?, ?, ?, ?)'),
    };
  }

  /** Once per run: a run already recorded (its final status stored again) is left as it is. */
  record(runId: string, at: number): void {
    const run = this.stmt.run.get(runId);
    if (!run) return;
    const series = seriesOf({ name: run.name, labels: JSON.parse(run.labels) as Record<string, string> });
    if (this.stmt.placeRun.run(runId, series, run.created_at, at).changes === 0) return;
    // A name twice in one run (two items named alike) counts once in the history: its last test.
    const latest = new Map<string, { status: Status; durationMs: number }>();
    let pos = 0;
    for (const execution of this.facts.read(runId)) {
      for (const test of reportTests(execution)) {
        this.stmt.outcome.run(runId, pos++, test.name, test.status, Math.round(test.durationMs), test.flaky ? 1 : 0);
        latest.set(test.name, { status: test.status, durationMs: Math.round(test.durationMs) });
      }
      // The scheduler orders executions by the duration under their own name, which a BDD execution's report
      // (a test per scenario) does not carry.
      if (!latest.has(execution.name)) latest.set(execution.name, { status: execution.status, durationMs: executionDurationMs(execution) });
    }
    for (const [name, test] of latest) {
      const before = this.stmt.history.get(series, name);
      const outcomes = [...(before ? (JSON.parse(before.outcomes) as Status[]) : []), test.status].slice(-HISTORY_DEPTH);
      this.stmt.saveHistory.run(series, name, JSON.stringify(outcomes), test.durationMs);
    }
  }
}
