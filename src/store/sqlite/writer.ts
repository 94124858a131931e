import Database from 'better-sqlite3';
import type { TransitionRecord } from '../../../machines/execution.machine.js';
import { TERMINAL_STATUSES } from '../../core/statuses.js';
import type { ExecutionRecord, RunRecord, StepRecord, StepsWrite, TransitionWrite, WriteOutcome } from '../store.port.js';
import { HistoryWriter } from './history-writer.js';
import type { WriteOp, WriteResult, WriteValue, WriterConfig } from './ops.js';
import { TriggerWrites } from './trigger-writes.js';

const terminal = new Set<string>(TERMINAL_STATUSES);

function errorOf(err: unknown): WriteResult {
  const e: Error & { code?: unknown } = err instanceof Error ? err : new Error(String(err));
  return { err: { message: e.message, ...(typeof e.code === 'string' ? { code: e.code } : {}) } };
}

/**
 * The store's one write connection: applies writes in group commits, each write checked on its own
 * (conditional transitions answer `conflict` / `not_found`). It runs on the writer thread, so no commit and no
 * fsync ever blocks the engine's event loop.
 */
export class SqliteWriter {
  private readonly db: Database.Database;
  private readonly stmt;
  private readonly applyBatch: Database.Transaction<(ops: WriteOp[]) => WriteValue[]>;
  private readonly applySingle: Database.Transaction<(op: WriteOp) => WriteValue>;
  private readonly delay: Int32Array | null;
  private readonly history: HistoryWriter;
  private readonly triggers: TriggerWrites;
  /** The newest cursor handed out; caught up with the file at the start of every write transaction. */
  private cursor = 0;

  constructor(private readonly config: WriterConfig) {
    const db = new Database(config.file);
    this.db = db;
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${config.synchronous}`);
    db.pragma('busy_timeout = 5000');
    this.delay = config.commitDelayMs > 0 ? new Int32Array(new SharedArrayBuffer(4)) : null;
    this.applyBatch = db.transaction((ops: WriteOp[]) => {
      this.syncCursor();
      return ops.map((op) => this.applyOp(op));
    });
    this.applySingle = db.transaction((op: WriteOp) => {
      this.syncCursor();
      return this.applyOp(op);
    });
    this.history = new HistoryWriter(db);
    this.stmt = {
      insertRun: db.prepare(
        `INSERT INTO runs (id, name, status, owner, priority, context, labels, fail_fast, max_parallel,
          idempotency_key, request_hash, total, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertExecution: db.prepare(
        `INSERT INTO executions (id, run_id, name, type, status, priority, context, attempt, owner, created_at,
          updated_at, rerun_of, item, machine, version, terminal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertEvent: db.prepare(
        `INSERT INTO events (cursor, execution_id, run_id, seq, from_status, to_status, event, at, attempt, reason,
          actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertStepEvent: db.prepare('INSERT INTO step_events (cursor, execution_id, run_id, attempt, idx) VALUES (?, ?, ?, ?, ?)'),
      updateExecution: db.prepare(
        `UPDATE executions SET status = ?, attempt = ?, machine = ?, version = ?, updated_at = ?, terminal = ?
         WHERE id = ? AND version = ?`,
      ),
      exists: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM executions WHERE id = ?'),
      hasSteps: db.prepare<[string, number], { one: number }>('SELECT 1 AS one FROM steps WHERE execution_id = ? AND attempt = ? LIMIT 1'),
      insertStep: db.prepare(
        `INSERT OR REPLACE INTO steps (execution_id, attempt, idx, name, status, started_at, duration_ms, output, error,
          case_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      latestCursor: db.prepare<[], { cursor: number }>(
        `SELECT MAX(COALESCE((SELECT MAX(cursor) FROM events), 0), COALESCE((SELECT MAX(cursor) FROM step_events), 0))
           AS cursor`,
      ),
      setRunStatus: db.prepare('UPDATE runs SET status = ?, updated_at = ? WHERE id = ?'),
      insertTestCase: db.prepare('INSERT INTO testcases (id, owner, item, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)'),
      updateTestCase: db.prepare('UPDATE testcases SET item = ?, version = ?, updated_at = ? WHERE id = ? AND version = ?'),
      testCaseExists: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM testcases WHERE id = ?'),
      deleteTestCase: db.prepare('DELETE FROM testcases WHERE id = ?'),
      insertSuite: db.prepare(
        'INSERT INTO suites (id, owner, name, testcase_ids, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      updateSuite: db.prepare('UPDATE suites SET name = ?, testcase_ids = ?, version = ?, updated_at = ? WHERE id = ? AND version = ?'),
      suiteExists: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM suites WHERE id = ?'),
      deleteSuite: db.prepare('DELETE FROM suites WHERE id = ?'),
      insertApiKey: db.prepare('INSERT INTO api_keys (id, hash, owner, role, name, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      revokeApiKey: db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      insertAudit: db.prepare('INSERT INTO audit (at, principal, action, target, source, details) VALUES (?, ?, ?, ?, ?, ?)'),
    };
    this.triggers = new TriggerWrites(db);
  }

  /**
   * Applies writes in transactions of at most `maxBatch`, in order. A batch that fails is rolled back and its
   * writes applied one by one, so that only the failing write answers an error.
   */
  apply(ops: readonly WriteOp[]): WriteResult[] {
    const results: WriteResult[] = [];
    for (let start = 0; start < ops.length; start += this.config.maxBatch) {
      const chunk = ops.slice(start, start + this.config.maxBatch);
      try {
        for (const value of this.applyBatch.immediate(chunk)) results.push({ ok: value });
      } catch {
        for (const op of chunk) {
          try {
            results.push({ ok: this.applySingle.immediate(op) });
          } catch (err) {
            results.push(errorOf(err));
          }
        }
      }
      if (this.delay) Atomics.wait(this.delay, 0, 0, this.config.commitDelayMs);
    }
    return results;
  }

  close(): void {
    this.db.close();
  }

  /**
   * Catches the counter up with the file inside a write transaction. Transactions are IMMEDIATE (the write
   * lock is held from their start), so another process writing the same file (`troupe run` beside a
   * `troupe serve` on one data dir) can never hand out the same cursor.
   */
  private syncCursor(): void {
    this.cursor = Math.max(this.cursor, this.stmt.latestCursor.get()?.cursor ?? 0);
  }

  private applyOp(op: WriteOp): WriteValue {
    switch (op.k) {
      case 'transition':
        return this.applyTransition(op.write);
      case 'create':
        this.insertExecution(op.execution);
        return 'applied';
      case 'run':
        this.insertRun(op.run);
        for (const e of op.executions) this.insertExecution(e);
        return null;
      case 'steps':
        return this.applyLateSteps(op.write);
      case 'runStatus':
        this.stmt.setRunStatus.run(op.status, op.at, op.runId);
        return null;
      case 'runHistory':
        return this.history.recordPage(op.runId, op.at, op.page);
      case 'testCase': {
        const t = op.record;
        if (op.expectedVersion === undefined) {
          this.stmt.insertTestCase.run(t.id, t.owner, JSON.stringify(t.item), t.version, t.createdAt, t.updatedAt);
          return 'applied';
        }
        if (this.stmt.updateTestCase.run(JSON.stringify(t.item), t.version, t.updatedAt, t.id, op.expectedVersion).changes === 1) return 'applied';
        return this.stmt.testCaseExists.get(t.id) ? 'conflict' : 'not_found';
      }
      case 'deleteTestCase':
        return this.stmt.deleteTestCase.run(op.id).changes === 1;
      case 'suite': {
        const s = op.record;
        const ids = JSON.stringify(s.testCaseIds);
        if (op.expectedVersion === undefined) {
          this.stmt.insertSuite.run(s.id, s.owner, s.name, ids, s.version, s.createdAt, s.updatedAt);
          return 'applied';
        }
        if (this.stmt.updateSuite.run(s.name, ids, s.version, s.updatedAt, s.id, op.expectedVersion).changes === 1) return 'applied';
        return this.stmt.suiteExists.get(s.id) ? 'conflict' : 'not_found';
      }
      case 'deleteSuite':
        return this.stmt.deleteSuite.run(op.id).changes === 1;
      case 'apiKey': {
        const key = op.key;
        this.stmt.insertApiKey.run(key.id, key.hash, key.owner, key.role, key.name, key.createdAt, key.revokedAt);
        return null;
      }
      case 'revokeApiKey':
        return this.stmt.revokeApiKey.run(op.at, op.id).changes === 1;
      case 'audit': {
        const e = op.entry;
        this.stmt.insertAudit.run(e.at, e.principal, e.action, e.target, e.source, e.details === undefined ? null : JSON.stringify(e.details));
        return null;
      }
      case 'trigger':
      case 'deleteTrigger':
      case 'hookDelivery':
      case 'notification':
      case 'notifyAttempt':
      case 'endNotification':
        return this.triggers.apply(op);
    }
  }

  private insertRun(run: RunRecord): void {
    this.stmt.insertRun.run(
      run.id,
      run.name,
      run.status,
      run.owner,
      run.priority,
      run.context,
      JSON.stringify(run.labels),
      run.failFast ? 1 : 0,
      run.maxParallel,
      run.idempotencyKey,
      run.requestHash,
      run.total,
      run.createdAt,
      run.updatedAt,
    );
  }

  private insertExecution(e: ExecutionRecord): void {
    this.stmt.insertExecution.run(
      e.id,
      e.runId,
      e.name,
      e.type,
      e.status,
      e.priority,
      e.context,
      e.attempt,
      e.owner,
      e.createdAt,
      e.updatedAt,
      e.rerunOf,
      JSON.stringify(e.item),
      JSON.stringify(e.machine),
      e.version,
      terminal.has(e.status) ? 1 : 0,
    );
    this.insertEvent(e.id, e.runId, e.machine.last);
  }

  private insertEvent(executionId: string, runId: string | null, r: TransitionRecord): void {
    this.stmt.insertEvent.run(++this.cursor, executionId, runId, r.seq, r.from, r.to, r.event, r.at, r.attempt, r.reason, r.actor);
  }

  /** Steps of an attempt that ended without them: written once, never over steps already stored. */
  private applyLateSteps(write: StepsWrite): WriteOutcome {
    if (!this.stmt.exists.get(write.executionId)) return 'not_found';
    if (this.stmt.hasSteps.get(write.executionId, write.attempt)) return 'conflict';
    this.insertSteps(write.executionId, write.runId, write.attempt, write.items);
    return 'applied';
  }

  private insertSteps(executionId: string, runId: string | null, attempt: number, items: readonly StepRecord[]): void {
    for (const s of items) {
      this.stmt.insertStepEvent.run(++this.cursor, executionId, runId, attempt, s.index);
      this.stmt.insertStep.run(
        executionId,
        attempt,
        s.index,
        s.name,
        s.status,
        s.startedAt,
        s.durationMs,
        s.output ?? null,
        s.error ? JSON.stringify(s.error) : null,
        s.caseOf ?? null,
      );
    }
  }

  private applyTransition(write: TransitionWrite): WriteOutcome {
    const m = write.machine;
    const r = m.last;
    const changed = this.stmt.updateExecution.run(
      r.to,
      m.attempt,
      JSON.stringify(m),
      m.seq,
      r.at,
      terminal.has(r.to) ? 1 : 0,
      write.executionId,
      write.expectedVersion,
    ).changes;
    if (changed === 0) return this.stmt.exists.get(write.executionId) ? 'conflict' : 'not_found';
    if (write.steps) this.insertSteps(write.executionId, write.runId, write.steps.attempt, write.steps.items);
    this.insertEvent(write.executionId, write.runId, r);
    return 'applied';
  }
}
