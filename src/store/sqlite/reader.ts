import type Database from 'better-sqlite3';
import type { TransitionRecord } from '../../../machines/execution.machine.js';
import { seriesOf } from '../../core/series.js';
import type { Status } from '../../core/statuses.js';
import type { ExecutionFacts } from '../../report/run-report.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import type {
  ApiKeyRecord,
  AuditEntry,
  ExecutionFilter,
  ExecutionRecord,
  LogEntry,
  Page,
  RunFilter,
  RunRecord,
  StoredEvent,
  StoredStep,
  SuiteRecord,
  TestCaseRecord,
  TestHistory,
  TestOutcome,
  NotifyAttemptRecord,
  TriggerRecord,
} from '../store.port.js';
import { TriggerReads, toNotifyAttempt, toTrigger, type NotifyAttemptRow, type TriggerRow } from './trigger-reads.js';
import {
  LOG_SINCE,
  toApiKey,
  toExecution,
  toRecord,
  toRun,
  toStep,
  toSuite,
  toTestCase,
  type ApiKeyRow,
  type EventRow,
  type ExecutionRow,
  type LogRow,
  type RunRow,
  type StepRow,
  type SuiteRow,
  type TestCaseRow,
} from './rows.js';
import { RunFactsQuery } from './run-facts.js';

/** Up to this many tests a history read looks each up by key; more read the series' key range once. */
const HISTORY_BY_NAME_MAX = 1000;

type HistoryRow = { name: string; outcomes: string; duration_ms: number };

function addClause(where: string[], args: (string | number)[], clause: string, value: string | number): void {
  where.push(clause);
  args.push(value);
}

/**
 * The store's read connection, on the engine's thread. In WAL mode readers never wait for the writer thread
 * and every statement sees the last commit, so a write's promise resolving means reads see it.
 */
export class SqliteReader {
  private readonly stmt;
  /** Triggers, webhook deliveries and run notifications (SPEC §8). */
  readonly triggers: TriggerReads;

  private readonly facts: RunFactsQuery;

  constructor(private readonly db: Database.Database) {
    this.facts = new RunFactsQuery(db);
    this.triggers = new TriggerReads(db);
    this.stmt = {
      getExecution: db.prepare<[string], ExecutionRow>('SELECT * FROM executions WHERE id = ?'),
      listActive: db.prepare<[], ExecutionRow>('SELECT * FROM executions WHERE terminal = 0 ORDER BY id'),
      listEvents: db.prepare<[string], EventRow>('SELECT * FROM events WHERE execution_id = ? ORDER BY seq'),
      eventPage: db.prepare<[string, number, number], EventRow>(
        'SELECT * FROM events WHERE execution_id = ? AND seq > ? ORDER BY seq LIMIT ?',
      ),
      eventsSince: db.prepare<[number, number], EventRow>('SELECT * FROM events WHERE cursor > ? ORDER BY cursor LIMIT ?'),
      logSince: db.prepare<{ cursor: number; limit: number }, LogRow>(LOG_SINCE),
      latestCursor: db.prepare<[], { cursor: number }>(
        `SELECT MAX(COALESCE((SELECT MAX(cursor) FROM events), 0), COALESCE((SELECT MAX(cursor) FROM step_events), 0))
           AS cursor`,
      ),
      listSteps: db.prepare<[string], StepRow>('SELECT * FROM steps WHERE execution_id = ? ORDER BY attempt, idx'),
      getRun: db.prepare<[string], RunRow>('SELECT * FROM runs WHERE id = ?'),
      runByKey: db.prepare<[string, string], RunRow>('SELECT * FROM runs WHERE owner = ? AND idempotency_key = ?'),
      activeRuns: db.prepare<[], RunRow>("SELECT * FROM runs WHERE status IN ('PENDING', 'RUNNING') ORDER BY id"),
      runCounts: db.prepare<[string], { status: string; n: number }>(
        'SELECT status, COUNT(*) AS n FROM executions WHERE run_id = ? GROUP BY status',
      ),
      runMembers: db.prepare<[string], { id: string; status: string }>('SELECT id, status FROM executions WHERE run_id = ? ORDER BY id'),
      getTestCase: db.prepare<[string], TestCaseRow>('SELECT * FROM testcases WHERE id = ?'),
      getSuite: db.prepare<[string], SuiteRow>('SELECT * FROM suites WHERE id = ?'),
      apiKeyByHash: db.prepare<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE hash = ?'),
      listApiKeys: db.prepare<[], ApiKeyRow>('SELECT * FROM api_keys ORDER BY created_at, id'),
      runOutcomes: db.prepare<[string], { name: string; status: string; duration_ms: number; flaky: number }>(
        'SELECT name, status, duration_ms, flaky FROM test_outcomes WHERE run_id = ? ORDER BY pos',
      ),
      runRecorded: db.prepare<[string], { series: string; created_at: number }>('SELECT series, created_at FROM run_series WHERE run_id = ?'),
      runCreated: db.prepare<[string], { owner: string; name: string; labels: string; created_at: number }>(
        'SELECT owner, name, labels, created_at FROM runs WHERE id = ?',
      ),
      previousRun: db.prepare<[string, number, number, string], { run_id: string }>(
        `SELECT run_id FROM run_series WHERE series = ? AND (created_at < ? OR (created_at = ? AND run_id < ?))
         ORDER BY created_at DESC, run_id DESC LIMIT 1`,
      ),
      seriesHistory: db.prepare<[string], HistoryRow>('SELECT name, outcomes, duration_ms FROM test_history WHERE series = ?'),
      withoutHistory: db.prepare<[number], { id: string; updated_at: number; recorded: number }>(
        `SELECT r.id, r.updated_at, EXISTS (SELECT 1 FROM run_series s WHERE s.run_id = r.id) AS recorded FROM runs r
         WHERE r.status NOT IN ('PENDING', 'RUNNING') ORDER BY r.id DESC LIMIT ?`,
      ),
      seriesKnown: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM test_history WHERE series = ? LIMIT 1'),
      testHistory: db.prepare<[string, string], HistoryRow>('SELECT name, outcomes, duration_ms FROM test_history WHERE series = ? AND name = ?'),
      listAudit: db.prepare<[number], Record<string, unknown>>('SELECT * FROM audit ORDER BY id DESC LIMIT ?'),
    };
  }

  getExecution(id: string): ExecutionRecord | null {
    const row = this.stmt.getExecution.get(id);
    return row ? toExecution(row) : null;
  }

  listExecutions(filter: ExecutionFilter): Page<ExecutionRecord> {
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

  listRuns(filter: RunFilter): Page<RunRecord> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.owner !== undefined) addClause(where, args, 'owner = ?', filter.owner);
    if (filter.status !== undefined) addClause(where, args, 'status = ?', filter.status);
    return this.page<RunRow, RunRecord>('runs', where, args, filter, toRun);
  }

  listTestCases(filter: { owner?: string; limit: number; cursor?: string | null }): Page<TestCaseRecord> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.owner !== undefined) addClause(where, args, 'owner = ?', filter.owner);
    return this.page<TestCaseRow, TestCaseRecord>('testcases', where, args, filter, toTestCase);
  }

  listSuites(filter: { owner?: string; limit: number; cursor?: string | null }): Page<SuiteRecord> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.owner !== undefined) addClause(where, args, 'owner = ?', filter.owner);
    return this.page<SuiteRow, SuiteRecord>('suites', where, args, filter, toSuite);
  }

  /** Newest first by id (ULIDs sort by creation time), with time bounds and an opaque cursor. */
  private page<Row, T extends { id: string }>(
    table: 'executions' | 'runs' | 'testcases' | 'suites' | 'triggers' | 'notify_attempts',
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

  listActive(): ExecutionRecord[] {
    return this.stmt.listActive.all().map(toExecution);
  }

  listEvents(executionId: string): TransitionRecord[] {
    return this.stmt.listEvents.all(executionId).map(toRecord);
  }

  /** One execution's transitions after `afterSeq`, oldest first. */
  eventPage(executionId: string, afterSeq: number, limit: number): TransitionRecord[] {
    return this.stmt.eventPage.all(executionId, afterSeq, limit).map(toRecord);
  }

  eventsSince(cursor: number, limit: number): StoredEvent[] {
    return this.stmt.eventsSince.all(cursor, limit).map((row) => ({
      cursor: row.cursor,
      executionId: row.execution_id,
      runId: row.run_id,
      record: toRecord(row),
    }));
  }

  logSince(cursor: number, limit: number): LogEntry[] {
    return this.stmt.logSince.all({ cursor, limit }).map((row): LogEntry => {
      const base = { cursor: row.cursor, executionId: row.execution_id, runId: row.run_id };
      if (row.kind === 'step') return { kind: 'step', ...base, step: { attempt: row.attempt, ...toStep(row) } };
      return { kind: 'transition', ...base, record: toRecord(row as EventRow) };
    });
  }

  latestCursor(): number {
    return this.stmt.latestCursor.get()?.cursor ?? 0;
  }

  listSteps(executionId: string): StoredStep[] {
    return this.stmt.listSteps.all(executionId).map((row) => ({ attempt: row.attempt, ...toStep(row) }));
  }

  getRun(id: string): RunRecord | null {
    const row = this.stmt.getRun.get(id);
    return row ? toRun(row) : null;
  }

  findRunByIdempotencyKey(owner: string, key: string): RunRecord | null {
    const row = this.stmt.runByKey.get(owner, key);
    return row ? toRun(row) : null;
  }

  listActiveRuns(): RunRecord[] {
    return this.stmt.activeRuns.all().map(toRun);
  }

  runCounts(runId: string): Partial<Record<Status, number>> {
    const counts: Partial<Record<Status, number>> = {};
    for (const { status, n } of this.stmt.runCounts.all(runId)) counts[status as Status] = n;
    return counts;
  }

  runMembers(runId: string): { id: string; status: Status }[] {
    return this.stmt.runMembers.all(runId).map((row) => ({ id: row.id, status: row.status as Status }));
  }

  getTestCase(id: string): TestCaseRecord | null {
    const row = this.stmt.getTestCase.get(id);
    return row ? toTestCase(row) : null;
  }

  getSuite(id: string): SuiteRecord | null {
    const row = this.stmt.getSuite.get(id);
    return row ? toSuite(row) : null;
  }

  findApiKeyByHash(hash: string): ApiKeyRecord | null {
    const row = this.stmt.apiKeyByHash.get(hash);
    return row ? toApiKey(row) : null;
  }

  listApiKeys(): ApiKeyRecord[] {
    return this.stmt.listApiKeys.all().map(toApiKey);
  }

  runFacts(runId: string): ExecutionFacts[] {
    return this.facts.read(runId);
  }

  runOutcomes(runId: string): TestOutcome[] | null {
    if (!this.stmt.runRecorded.get(runId)) return null;
    return this.stmt.runOutcomes.all(runId).map((row) => ({
      name: row.name,
      status: row.status as Status,
      durationMs: row.duration_ms,
      flaky: row.flaky === 1,
    }));
  }

  previousRun(runId: string): string | null {
    const run = this.stmt.runCreated.get(runId);
    if (!run) return null;
    const series = seriesOf({ owner: run.owner, name: run.name, labels: JSON.parse(run.labels) as Record<string, string> });
    return this.stmt.previousRun.get(series, run.created_at, run.created_at, runId)?.run_id ?? null;
  }

  runsWithoutHistory(limit: number): { id: string; endedAt: number }[] {
    return this.stmt.withoutHistory
      .all(limit)
      .filter((row) => row.recorded === 0)
      .reverse()
      .map((row) => ({ id: row.id, endedAt: row.updated_at }));
  }

  /** The named tests by primary key when they are few, else the whole series in one index range. */
  testHistory(series: string, names?: readonly string[]): Map<string, TestHistory> {
    if (!this.stmt.seriesKnown.get(series)) return new Map();
    let rows: HistoryRow[];
    if (names === undefined) rows = this.stmt.seriesHistory.all(series);
    else if (names.length <= HISTORY_BY_NAME_MAX) rows = names.flatMap((name) => this.stmt.testHistory.all(series, name));
    else {
      const wanted = new Set(names);
      rows = this.stmt.seriesHistory.all(series).filter((row) => wanted.has(row.name));
    }
    return new Map(rows.map((row) => [row.name, { name: row.name, outcomes: JSON.parse(row.outcomes) as Status[], durationMs: row.duration_ms }]));
  }

  listAudit(limit: number): AuditEntry[] {
    return this.stmt.listAudit.all(limit).map((row) => ({
      at: row.at as number,
      principal: row.principal as string,
      action: row.action as string,
      target: row.target as string,
      source: row.source as string,
      ...(row.details === null ? {} : { details: JSON.parse(row.details as string) as unknown }),
    }));
  }

  listTriggers(filter: { owner?: string; limit: number; cursor?: string | null }): Page<TriggerRecord> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.owner !== undefined) addClause(where, args, 'owner = ?', filter.owner);
    return this.page<TriggerRow, TriggerRecord>('triggers', where, args, filter, toTrigger);
  }

  listNotifyAttempts(filter: { triggerId: string; limit: number; cursor?: string | null }): Page<NotifyAttemptRecord> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    addClause(where, args, 'trigger_id = ?', filter.triggerId);
    return this.page<NotifyAttemptRow, NotifyAttemptRecord>('notify_attempts', where, args, { limit: filter.limit, cursor: filter.cursor ?? null }, toNotifyAttempt);
  }
}
