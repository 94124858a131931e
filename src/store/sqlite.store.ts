import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { TransitionRecord } from '../../machines/execution.machine.js';
import type { RunStatus, Status } from '../core/statuses.js';
import { TERMINAL_STATUSES } from '../core/statuses.js';
import type {
  ApiKeyRecord,
  AuditEntry,
  ExecutionFilter,
  ExecutionRecord,
  LogEntry,
  Page,
  RunFilter,
  RunRecord,
  SuiteRecord,
  TestCaseRecord,
  StoredEvent,
  StepRecord,
  StepsWrite,
  StoredStep,
  Store,
  TransitionWrite,
  WriteOutcome,
} from './store.port.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import {
  LOG_SINCE,
  SCHEMA,
  toApiKey,
  toStep,
  toSuite,
  toTestCase,
  toExecution,
  toRecord,
  toRun,
  type ApiKeyRow,
  type EventRow,
  type ExecutionRow,
  type LogRow,
  type StepRow,
  type RunRow,
  type SuiteRow,
  type TestCaseRow,
} from './sqlite.rows.js';

export interface SqliteStoreOptions {
  /** Path of the database file; `:memory:` for a throwaway store. */
  file: string;
  /**
   * SQLite `synchronous` level. FULL fsyncs each commit (survives power loss); NORMAL in WAL mode
   * survives a process crash but may lose the last commits on power loss.
   * @defaultValue 'FULL'
   */
  synchronous?: 'FULL' | 'NORMAL';
  /**
   * Most transitions committed in one transaction (group commit).
   * @defaultValue 512
   */
  maxBatch?: number;
}

const terminal = new Set<string>(TERMINAL_STATUSES);

/** Columns added after a table was first created: `CREATE TABLE IF NOT EXISTS` leaves older files without them. */
function migrate(db: Database.Database): void {
  const columns = db.prepare<[], { name: string }>('SELECT name FROM pragma_table_info(\'steps\')').all();
  if (!columns.some((c) => c.name === 'case_of')) db.exec('ALTER TABLE steps ADD COLUMN case_of INTEGER');
}

function addClause(where: string[], args: (string | number)[], clause: string, value: string | number): void {
  where.push(clause);
  args.push(value);
}

/** Runs synchronous database work as a promise, so a failure rejects instead of throwing at the call site. */
function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/** A write waiting for the next group commit: a new execution or a transition. */
type Op = { create: ExecutionRecord } | { transition: TransitionWrite } | { steps: StepsWrite };

interface Pending {
  op: Op;
  resolve: (outcome: WriteOutcome) => void;
  reject: (err: unknown) => void;
}

/** The embedded store: one SQLite file in WAL mode, transitions group-committed. */
export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly maxBatch: number;
  private queue: Pending[] = [];
  private flushScheduled = false;
  private idleWaiters: (() => void)[] = [];
  private readonly stmt;
  private readonly applyBatch: Database.Transaction<(ops: Op[]) => WriteOutcome[]>;
  private readonly applySingle: Database.Transaction<(op: Op) => WriteOutcome>;
  /** The newest cursor handed out; caught up with the file at the start of every write transaction. */
  private cursor: number;

  constructor(options: SqliteStoreOptions) {
    if (options.file !== ':memory:') mkdirSync(dirname(options.file), { recursive: true });
    this.db = new Database(options.file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    migrate(this.db);
    this.maxBatch = options.maxBatch ?? 512;
    this.applyBatch = this.db.transaction((ops: Op[]) => {
      this.syncCursor();
      return ops.map((op) => this.applyOp(op));
    });
    this.applySingle = this.db.transaction((op: Op) => {
      this.syncCursor();
      return this.applyOp(op);
    });
    const db = this.db;
    this.stmt = {
      insertRun: db.prepare(
        `INSERT INTO runs (id, name, status, owner, priority, context, labels, fail_fast, max_parallel,
          idempotency_key, request_hash, total, created_at, updated_at)
         VALUES (@id, @name, @status, @owner, @priority, @context, @labels, @fail_fast, @max_parallel,
          @idempotency_key, @request_hash, @total, @created_at, @updated_at)`,
      ),
      insertExecution: db.prepare(
        `INSERT INTO executions (id, run_id, name, type, status, priority, context, attempt, owner, created_at,
          updated_at, rerun_of, item, machine, version, terminal)
         VALUES (@id, @run_id, @name, @type, @status, @priority, @context, @attempt, @owner, @created_at,
          @updated_at, @rerun_of, @item, @machine, @version, @terminal)`,
      ),
      insertEvent: db.prepare(
        `INSERT INTO events (cursor, execution_id, run_id, seq, from_status, to_status, event, at, attempt, reason,
          actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertStepEvent: db.prepare(
        'INSERT INTO step_events (cursor, execution_id, run_id, attempt, idx) VALUES (?, ?, ?, ?, ?)',
      ),
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
      getExecution: db.prepare<[string], ExecutionRow>('SELECT * FROM executions WHERE id = ?'),
      listActive: db.prepare<[], ExecutionRow>('SELECT * FROM executions WHERE terminal = 0 ORDER BY id'),
      listEvents: db.prepare<[string], EventRow>('SELECT * FROM events WHERE execution_id = ? ORDER BY seq'),
      eventsSince: db.prepare<[number, number], EventRow>(
        'SELECT * FROM events WHERE cursor > ? ORDER BY cursor LIMIT ?',
      ),
      logSince: db.prepare<{ cursor: number; limit: number }, LogRow>(LOG_SINCE),
      latestCursor: db.prepare<[], { cursor: number }>(
        `SELECT MAX(COALESCE((SELECT MAX(cursor) FROM events), 0), COALESCE((SELECT MAX(cursor) FROM step_events), 0))
           AS cursor`,
      ),
      listSteps: db.prepare<[string], StepRow>(
        'SELECT * FROM steps WHERE execution_id = ? ORDER BY attempt, idx',
      ),
      getRun: db.prepare<[string], RunRow>('SELECT * FROM runs WHERE id = ?'),
      runByKey: db.prepare<[string, string], RunRow>('SELECT * FROM runs WHERE owner = ? AND idempotency_key = ?'),
      activeRuns: db.prepare<[], RunRow>("SELECT * FROM runs WHERE status IN ('PENDING', 'RUNNING') ORDER BY id"),
      runCounts: db.prepare<[string], { status: string; n: number }>(
        'SELECT status, COUNT(*) AS n FROM executions WHERE run_id = ? GROUP BY status',
      ),
      runMembers: db.prepare<[string], { id: string; status: string }>(
        'SELECT id, status FROM executions WHERE run_id = ? ORDER BY id',
      ),
      setRunStatus: db.prepare('UPDATE runs SET status = ?, updated_at = ? WHERE id = ?'),
      insertTestCase: db.prepare(
        'INSERT INTO testcases (id, owner, item, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      updateTestCase: db.prepare('UPDATE testcases SET item = ?, version = ?, updated_at = ? WHERE id = ? AND version = ?'),
      getTestCase: db.prepare<[string], TestCaseRow>('SELECT * FROM testcases WHERE id = ?'),
      deleteTestCase: db.prepare('DELETE FROM testcases WHERE id = ?'),
      insertSuite: db.prepare(
        'INSERT INTO suites (id, owner, name, testcase_ids, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      updateSuite: db.prepare(
        'UPDATE suites SET name = ?, testcase_ids = ?, version = ?, updated_at = ? WHERE id = ? AND version = ?',
      ),
      getSuite: db.prepare<[string], SuiteRow>('SELECT * FROM suites WHERE id = ?'),
      deleteSuite: db.prepare('DELETE FROM suites WHERE id = ?'),
      insertApiKey: db.prepare(
        'INSERT INTO api_keys (id, hash, owner, role, name, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      apiKeyByHash: db.prepare<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE hash = ?'),
      listApiKeys: db.prepare<[], ApiKeyRow>('SELECT * FROM api_keys ORDER BY created_at, id'),
      revokeApiKey: db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      insertAudit: db.prepare(
        'INSERT INTO audit (at, principal, action, target, source, details) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      listAudit: db.prepare<[number], Record<string, unknown>>('SELECT * FROM audit ORDER BY id DESC LIMIT ?'),
    };
    this.cursor = this.stmt.latestCursor.get()?.cursor ?? 0;
  }

  private insertExecutionRow(e: ExecutionRecord): void {
    this.stmt.insertExecution.run({
      id: e.id,
      run_id: e.runId,
      name: e.name,
      type: e.type,
      status: e.status,
      priority: e.priority,
      context: e.context,
      attempt: e.attempt,
      owner: e.owner,
      created_at: e.createdAt,
      updated_at: e.updatedAt,
      rerun_of: e.rerunOf,
      item: JSON.stringify(e.item),
      machine: JSON.stringify(e.machine),
      version: e.version,
      terminal: terminal.has(e.status) ? 1 : 0,
    });
    this.insertEventRow(e.id, e.runId, e.machine.last);
  }

  private insertEventRow(executionId: string, runId: string | null, r: TransitionRecord): void {
    this.stmt.insertEvent.run(
      ++this.cursor,
      executionId,
      runId,
      r.seq,
      r.from,
      r.to,
      r.event,
      r.at,
      r.attempt,
      r.reason,
      r.actor,
    );
  }

  createRun(run: RunRecord, executions: ExecutionRecord[]): Promise<void> {
    return settle(() => this.db.transaction(() => {
      this.syncCursor();
      this.stmt.insertRun.run({
        id: run.id,
        name: run.name,
        status: run.status,
        owner: run.owner,
        priority: run.priority,
        context: run.context,
        labels: JSON.stringify(run.labels),
        fail_fast: run.failFast ? 1 : 0,
        max_parallel: run.maxParallel,
        idempotency_key: run.idempotencyKey,
        request_hash: run.requestHash,
        total: run.total,
        created_at: run.createdAt,
        updated_at: run.updatedAt,
      });
      for (const e of executions) this.insertExecutionRow(e);
    }).immediate());
  }

  /** Group-committed with transitions: one fsync serves many concurrent submits. */
  async createExecution(execution: ExecutionRecord): Promise<void> {
    await this.enqueue({ create: execution });
  }

  applyTransition(write: TransitionWrite): Promise<WriteOutcome> {
    return this.enqueue({ transition: write });
  }

  /** Group-committed in order with transitions, so late steps follow the transition that ended their attempt. */
  recordSteps(write: StepsWrite): Promise<WriteOutcome> {
    return this.enqueue({ steps: write });
  }

  private enqueue(op: Op): Promise<WriteOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      if (this.queue.length >= this.maxBatch) this.commit();
      else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.commit());
      }
    });
  }

  /** Commits every queued write in one transaction; each transition is checked on its own. */
  private commit(): void {
    this.flushScheduled = false;
    const batch = this.queue;
    if (batch.length === 0) return this.notifyIdle();
    this.queue = [];
    let outcomes: WriteOutcome[];
    try {
      outcomes = this.applyBatch.immediate(batch.map((p) => p.op));
    } catch {
      // Rare: a write failed and rolled its batch back. Apply each on its own, in order, so that only the
      // failing write is rejected.
      for (const p of batch) {
        try {
          p.resolve(this.applySingle.immediate(p.op));
        } catch (err) {
          p.reject(err);
        }
      }
      return this.notifyIdle();
    }
    batch.forEach((p, i) => p.resolve(outcomes[i] as WriteOutcome));
    this.notifyIdle();
  }

  /**
   * Catches the counter up with the file inside a write transaction. Transactions are IMMEDIATE (the write
   * lock is held from their start), so another process writing the same file (`troupe run` beside a
   * `troupe serve` on one data dir) can never hand out the same cursor.
   */
  private syncCursor(): void {
    this.cursor = Math.max(this.cursor, this.stmt.latestCursor.get()?.cursor ?? 0);
  }

  private applyOp(op: Op): WriteOutcome {
    if ('create' in op) {
      this.insertExecutionRow(op.create);
      return 'applied';
    }
    if ('steps' in op) return this.applyLateSteps(op.steps);
    return this.applyOne(op.transition);
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

  private applyOne(write: TransitionWrite): WriteOutcome {
    const m = write.machine;
    const r = m.last;
    const status = r.to;
    const changed = this.stmt.updateExecution.run(
      status,
      m.attempt,
      JSON.stringify(m),
      m.seq,
      r.at,
      terminal.has(status) ? 1 : 0,
      write.executionId,
      write.expectedVersion,
    ).changes;
    if (changed === 0) return this.stmt.exists.get(write.executionId) ? 'conflict' : 'not_found';
    if (write.steps) this.insertSteps(write.executionId, write.runId, write.steps.attempt, write.steps.items);
    this.insertEventRow(write.executionId, write.runId, r);
    return 'applied';
  }

  private notifyIdle(): void {
    if (this.queue.length > 0 || this.flushScheduled) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  getExecution(id: string): Promise<ExecutionRecord | null> {
    return settle(() => {
      const row = this.stmt.getExecution.get(id);
      return row ? toExecution(row) : null;
    });
  }

  listExecutions(filter: ExecutionFilter): Promise<Page<ExecutionRecord>> {
    return settle(() => this.listExecutionsNow(filter));
  }

  private listExecutionsNow(filter: ExecutionFilter): Page<ExecutionRecord> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    const add = (clause: string, value: string) => addClause(where, args, clause, value);
    if (filter.runId !== undefined) add('run_id = ?', filter.runId);
    if (filter.status !== undefined) add('status = ?', filter.status);
    if (filter.owner !== undefined) add('owner = ?', filter.owner);
    if (filter.priority !== undefined) add('priority = ?', filter.priority);
    if (filter.context !== undefined) add('context = ?', filter.context);
    return this.page<ExecutionRow, ExecutionRecord>('executions', where, args, filter, toExecution);
  }

  listRuns(filter: RunFilter): Promise<Page<RunRecord>> {
    return settle(() => {
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (filter.owner !== undefined) addClause(where, args, 'owner = ?', filter.owner);
      if (filter.status !== undefined) addClause(where, args, 'status = ?', filter.status);
      return this.page<RunRow, RunRecord>('runs', where, args, filter, toRun);
    });
  }

  /** Newest first by id (ULIDs sort by creation time), with time bounds and an opaque cursor. */
  private page<Row, T extends { id: string }>(
    table: 'executions' | 'runs' | 'testcases' | 'suites',
    where: string[],
    args: (string | number)[],
    filter: { limit: number; cursor?: string | null; createdAfter?: number; createdBefore?: number },
    map: (row: Row) => T,
  ): Page<T> {
    if (filter.createdAfter !== undefined) addClause(where, args, 'created_at > ?', filter.createdAfter);
    if (filter.createdBefore !== undefined) addClause(where, args, 'created_at < ?', filter.createdBefore);
    const after = filter.cursor ? decodeCursor(filter.cursor) : null;
    if (after !== null) addClause(where, args, 'id < ?', after);
    const sql = `SELECT * FROM ${table} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    const rows = this.db.prepare<(string | number)[], Row>(sql).all(...args, filter.limit + 1);
    const items = rows.slice(0, filter.limit).map(map);
    const last = items[items.length - 1];
    return { items, next: rows.length > filter.limit && last ? encodeCursor(last.id) : null };
  }

  listActive(): Promise<ExecutionRecord[]> {
    return settle(() => this.stmt.listActive.all().map(toExecution));
  }

  listEvents(executionId: string): Promise<TransitionRecord[]> {
    return settle(() => this.stmt.listEvents.all(executionId).map(toRecord));
  }

  eventPage(executionId: string, afterSeq: number, limit: number): Promise<TransitionRecord[]> {
    const sql = 'SELECT * FROM events WHERE execution_id = ? AND seq > ? ORDER BY seq LIMIT ?';
    return settle(() => this.db.prepare<[string, number, number], EventRow>(sql).all(executionId, afterSeq, limit).map(toRecord));
  }

  eventsSince(cursor: number, limit: number): Promise<StoredEvent[]> {
    return settle(() =>
      this.stmt.eventsSince.all(cursor, limit).map((row) => ({
        cursor: row.cursor,
        executionId: row.execution_id,
        runId: row.run_id,
        record: toRecord(row),
      })),
    );
  }

  logSince(cursor: number, limit: number): Promise<LogEntry[]> {
    return settle(() =>
      this.stmt.logSince.all({ cursor, limit }).map((row): LogEntry => {
        const base = { cursor: row.cursor, executionId: row.execution_id, runId: row.run_id };
        if (row.kind === 'step') return { kind: 'step', ...base, step: { attempt: row.attempt, ...toStep(row) } };
        return { kind: 'transition', ...base, record: toRecord(row as EventRow) };
      }),
    );
  }

  latestCursor(): Promise<number> {
    return settle(() => this.stmt.latestCursor.get()?.cursor ?? 0);
  }

  listSteps(executionId: string): Promise<StoredStep[]> {
    return settle(() =>
      this.stmt.listSteps.all(executionId).map((row) => ({ attempt: row.attempt, ...toStep(row) })),
    );
  }

  getRun(id: string): Promise<RunRecord | null> {
    return settle(() => {
      const row = this.stmt.getRun.get(id);
      return row ? toRun(row) : null;
    });
  }

  findRunByIdempotencyKey(owner: string, key: string): Promise<RunRecord | null> {
    return settle(() => {
      const row = this.stmt.runByKey.get(owner, key);
      return row ? toRun(row) : null;
    });
  }

  listActiveRuns(): Promise<RunRecord[]> {
    return settle(() => this.stmt.activeRuns.all().map(toRun));
  }

  runCounts(runId: string): Promise<Partial<Record<Status, number>>> {
    return settle(() => {
      const counts: Partial<Record<Status, number>> = {};
      for (const { status, n } of this.stmt.runCounts.all(runId)) counts[status as Status] = n;
      return counts;
    });
  }

  runMembers(runId: string): Promise<{ id: string; status: Status }[]> {
    return settle(() =>
      this.stmt.runMembers.all(runId).map((row) => ({ id: row.id, status: row.status as Status })),
    );
  }

  setRunStatus(runId: string, status: RunStatus, at: number): Promise<void> {
    return settle(() => {
      this.stmt.setRunStatus.run(status, at, runId);
    });
  }

  saveTestCase(t: TestCaseRecord, expectedVersion?: number): Promise<WriteOutcome> {
    return settle(() => {
      if (expectedVersion === undefined) {
        this.stmt.insertTestCase.run(t.id, t.owner, JSON.stringify(t.item), t.version, t.createdAt, t.updatedAt);
        return 'applied';
      }
      const changed = this.stmt.updateTestCase.run(JSON.stringify(t.item), t.version, t.updatedAt, t.id, expectedVersion).changes;
      if (changed === 1) return 'applied';
      return this.stmt.getTestCase.get(t.id) ? 'conflict' : 'not_found';
    });
  }

  getTestCase(id: string): Promise<TestCaseRecord | null> {
    return settle(() => {
      const row = this.stmt.getTestCase.get(id);
      return row ? toTestCase(row) : null;
    });
  }

  listTestCases(filter: { owner?: string; limit: number; cursor?: string | null }): Promise<Page<TestCaseRecord>> {
    return settle(() => {
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (filter.owner !== undefined) addClause(where, args, 'owner = ?', filter.owner);
      return this.page<TestCaseRow, TestCaseRecord>('testcases', where, args, filter, toTestCase);
    });
  }

  deleteTestCase(id: string): Promise<boolean> {
    return settle(() => this.stmt.deleteTestCase.run(id).changes === 1);
  }

  saveSuite(s: SuiteRecord, expectedVersion?: number): Promise<WriteOutcome> {
    return settle(() => {
      const ids = JSON.stringify(s.testCaseIds);
      if (expectedVersion === undefined) {
        this.stmt.insertSuite.run(s.id, s.owner, s.name, ids, s.version, s.createdAt, s.updatedAt);
        return 'applied';
      }
      const changed = this.stmt.updateSuite.run(s.name, ids, s.version, s.updatedAt, s.id, expectedVersion).changes;
      if (changed === 1) return 'applied';
      return this.stmt.getSuite.get(s.id) ? 'conflict' : 'not_found';
    });
  }

  getSuite(id: string): Promise<SuiteRecord | null> {
    return settle(() => {
      const row = this.stmt.getSuite.get(id);
      return row ? toSuite(row) : null;
    });
  }

  listSuites(filter: { owner?: string; limit: number; cursor?: string | null }): Promise<Page<SuiteRecord>> {
    return settle(() => {
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (filter.owner !== undefined) addClause(where, args, 'owner = ?', filter.owner);
      return this.page<SuiteRow, SuiteRecord>('suites', where, args, filter, toSuite);
    });
  }

  deleteSuite(id: string): Promise<boolean> {
    return settle(() => this.stmt.deleteSuite.run(id).changes === 1);
  }

  createApiKey(key: ApiKeyRecord): Promise<void> {
    return settle(() => {
      this.stmt.insertApiKey.run(key.id, key.hash, key.owner, key.role, key.name, key.createdAt, key.revokedAt);
    });
  }

  findApiKeyByHash(hash: string): Promise<ApiKeyRecord | null> {
    return settle(() => {
      const row = this.stmt.apiKeyByHash.get(hash);
      return row ? toApiKey(row) : null;
    });
  }

  listApiKeys(): Promise<ApiKeyRecord[]> {
    return settle(() => this.stmt.listApiKeys.all().map(toApiKey));
  }

  revokeApiKey(id: string, at: number): Promise<boolean> {
    return settle(() => this.stmt.revokeApiKey.run(at, id).changes === 1);
  }

  appendAudit(entry: AuditEntry): Promise<void> {
    return settle(() => {
      this.stmt.insertAudit.run(
        entry.at,
        entry.principal,
        entry.action,
        entry.target,
        entry.source,
        entry.details === undefined ? null : JSON.stringify(entry.details),
      );
    });
  }

  listAudit(limit: number): Promise<AuditEntry[]> {
    return settle(() =>
      this.stmt.listAudit.all(limit).map((row) => ({
        at: row.at as number,
        principal: row.principal as string,
        action: row.action as string,
        target: row.target as string,
        source: row.source as string,
        ...(row.details === null ? {} : { details: JSON.parse(row.details as string) as unknown }),
      })),
    );
  }

  flush(): Promise<void> {
    if (this.queue.length === 0 && !this.flushScheduled) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    await this.flush();
    this.db.close();
  }
}
