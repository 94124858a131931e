import type Database from 'better-sqlite3';
import { HISTORY_DEPTH, seriesOf } from '../../core/series.js';
import type { Status } from '../../core/statuses.js';
import { executionDurationMs, reportTests } from '../../report/run-report.js';
import { uniqueNames } from '../../report/unique-names.js';
import { RunFactsQuery } from './run-facts.js';

/** Executions recorded per write: a page is one short transaction, so other writes go between the pages. */
export const HISTORY_PAGE = 1000;

/** A run being recorded: where its next page starts (row and position), and the names its tests took so far. */
interface Recording {
  series: string;
  after: number;
  pos: number;
  unique: (name: string) => string;
}

/**
 * Records an ended run's test outcomes and folds them into its series' history, on the writer thread, a page of
 * executions per write. Every page can be written twice (after a stop, recording starts over at page 0): outcomes
 * are keyed by their position, and a test's history row remembers the last run folded into it. The run's
 * `run_series` row goes last and marks it recorded.
 */
export class HistoryWriter {
  private readonly facts: RunFactsQuery;
  private readonly stmt;
  private readonly recording = new Map<string, Recording>();

  constructor(db: Database.Database) {
    this.facts = new RunFactsQuery(db);
    this.stmt = {
      run: db.prepare<[string], { owner: string; name: string; labels: string; created_at: number }>(
        'SELECT owner, name, labels, created_at FROM runs WHERE id = ?',
      ),
      recorded: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM run_series WHERE run_id = ?'),
      placeRun: db.prepare('INSERT OR IGNORE INTO run_series (run_id, series, created_at, finished_at) VALUES (?, ?, ?, ?)'),
      outcome: db.prepare('INSERT OR REPLACE INTO test_outcomes (run_id, pos, name, status, duration_ms, flaky) VALUES (?, ?, ?, ?, ?, ?)'),
      history: db.prepare<[string, string], { outcomes: string; last_run: string | null }>('SELECT outcomes, last_run FROM test_history WHERE series = ? AND name = ?'),
      saveHistory: db.prepare('INSERT OR REPLACE INTO test_history (series, name, outcomes, duration_ms, last_run) VALUES (?, ?, ?, ?, ?)'),
    };
  }

  /** Records page `page` of the run; true when another page follows. A run already recorded records nothing. */
  recordPage(runId: string, at: number, page: number): boolean {
    const run = this.stmt.run.get(runId);
    if (!run || this.stmt.recorded.get(runId)) {
      this.recording.delete(runId);
      return false;
    }
    let state = this.recording.get(runId);
    if (page === 0 || !state) {
      state = { series: seriesOf({ owner: run.owner, name: run.name, labels: JSON.parse(run.labels) as Record<string, string> }), after: 0, pos: 0, unique: uniqueNames() };
      this.recording.set(runId, state);
    }
    const { facts: executions, last } = this.facts.page(runId, HISTORY_PAGE, state.after);
    state.after = last;
    for (const execution of executions) {
      const tests = reportTests(execution).map((t) => ({ ...t, name: state.unique(t.name), durationMs: Math.round(t.durationMs) }));
      for (const test of tests) {
        this.stmt.outcome.run(runId, state.pos++, test.name, test.status, test.durationMs, test.flaky ? 1 : 0);
        this.fold(runId, state.series, test.name, test.status, test.durationMs);
      }
      // The scheduler orders executions by the duration under their own name, which a BDD execution's report
      // (a test per scenario) does not carry.
      if (!tests.some((t) => t.name === execution.name)) this.fold(runId, state.series, execution.name, execution.status, executionDurationMs(execution));
    }
    if (executions.length === HISTORY_PAGE) return true;
    this.stmt.placeRun.run(runId, state.series, run.created_at, at);
    this.recording.delete(runId);
    return false;
  }

  /** Adds the run's outcome to the test's last outcomes, once per run. */
  private fold(runId: string, series: string, name: string, status: Status, durationMs: number): void {
    const before = this.stmt.history.get(series, name);
    if (before?.last_run === runId) return;
    const outcomes = [...(before ? (JSON.parse(before.outcomes) as Status[]) : []), status].slice(-HISTORY_DEPTH);
    this.stmt.saveHistory.run(series, name, JSON.stringify(outcomes), durationMs, runId);
  }
}
