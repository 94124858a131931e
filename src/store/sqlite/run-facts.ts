import type Database from 'better-sqlite3';
import type { Status } from '../../core/statuses.js';
import type { ExecutionFacts } from '../../report/run-report.js';
import { toStep, type StepRow } from './rows.js';

type FactRow = { rid: number; id: string; name: string; type: string; status: string; attempt: number };
type EventFact = { execution_id: string; to_status: string; at: number; reason: string | null };
type StepFact = StepRow & { execution_id: string };

/**
 * Reads what a run's report is made of in three statements (its executions, their transitions, their steps),
 * each walking the run's executions by index: a run of 100,000 tests is read without a query per test, whole or a
 * page at a time.
 */
export class RunFactsQuery {
  private readonly executions;
  private readonly events;
  private readonly steps;

  constructor(db: Database.Database) {
    // A run's rows are inserted in item order in one transaction, so rowid order is creation order; the run index
    // (run_id, then rowid) walks a page from where the last one ended.
    const page = 'SELECT id FROM executions WHERE run_id = ? AND rowid > ? ORDER BY rowid LIMIT ?';
    this.executions = db.prepare<[string, number, number], FactRow>(
      'SELECT rowid AS rid, id, name, type, status, attempt FROM executions WHERE run_id = ? AND rowid > ? ORDER BY rowid LIMIT ?',
    );
    this.events = db.prepare<[string, number, number], EventFact>(
      `SELECT e.execution_id, e.to_status, e.at, e.reason FROM events e WHERE e.execution_id IN (${page})
       ORDER BY e.execution_id, e.seq`,
    );
    this.steps = db.prepare<[string, number, number], StepFact>(
      `SELECT s.* FROM steps s WHERE s.execution_id IN (${page}) ORDER BY s.execution_id, s.attempt, s.idx`,
    );
  }

  /** The run's executions in creation order. */
  read(runId: string): ExecutionFacts[] {
    return this.page(runId, -1, 0).facts;
  }

  /** `limit` of the run's executions after the one whose row is `after`; `last` is where the next page starts. */
  page(runId: string, limit: number, after: number): { facts: ExecutionFacts[]; last: number } {
    const byId = new Map<string, ExecutionFacts>();
    let last = after;
    for (const row of this.executions.all(runId, after, limit)) {
      byId.set(row.id, { id: row.id, name: row.name, type: row.type, status: row.status as Status, attempt: row.attempt, events: [], steps: [] });
      last = row.rid;
    }
    for (const row of this.events.all(runId, after, limit)) {
      byId.get(row.execution_id)?.events.push({ to: row.to_status as Status, at: row.at, reason: row.reason });
    }
    for (const row of this.steps.all(runId, after, limit)) {
      byId.get(row.execution_id)?.steps.push({ attempt: row.attempt, ...toStep(row) });
    }
    return { facts: [...byId.values()], last };
  }
}
