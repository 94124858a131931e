import Database from 'better-sqlite3';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TransitionRecord } from '../../machines/execution.machine.js';
import { LruMap } from '../core/lru-map.js';
import { TERMINAL_STATUSES, type RunStatus, type Status } from '../core/statuses.js';
import type {
  ApiKeyRecord,
  AuditEntry,
  ExecutionFilter,
  ExecutionRecord,
  LogEntry,
  Page,
  RunFilter,
  RunRecord,
  StepsWrite,
  StoredEvent,
  StoredStep,
  Store,
  SuiteRecord,
  TestCaseRecord,
  TestHistory,
  TestOutcome,
  TransitionWrite,
  WriteOutcome,
  HookDeliveryRecord,
  HookSource,
  NotificationRecord,
  NotifyAttemptRecord,
  TriggerRecord,
} from './store.port.js';
import type { ExecutionFacts } from '../report/run-report.js';
import type { WriteOp } from './sqlite/ops.js';
import { SqliteReader } from './sqlite/reader.js';
import { migrate, SCHEMA } from './sqlite/schema.js';
import { WriterClient } from './sqlite/writer-client.js';

export interface SqliteStoreOptions {
  /** Path of the database file; `:memory:` for a throwaway store (a temporary file, removed at close). */
  file: string;
  /**
   * SQLite `synchronous` level. FULL fsyncs each commit (survives power loss); NORMAL in WAL mode
   * survives a process crash but may lose the last commits on power loss.
   * @defaultValue 'FULL'
   */
  synchronous?: 'FULL' | 'NORMAL';
  /**
   * Most writes committed in one transaction (group commit).
   * @defaultValue 512
   */
  maxBatch?: number;
  /**
   * Fault injection for tests and benchmarks: the writer thread holds each commit this long, as a slow
   * disk's fsync would.
   * @defaultValue 0
   */
  commitDelayMs?: number;
}

const TERMINAL = new Set<string>(TERMINAL_STATUSES);

/** Terminal executions kept in memory once read. */
const FINISHED_CACHE = 2048;

/** Runs synchronous database work as a promise, so a failure rejects instead of throwing at the call site. */
function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/**
 * The embedded store: one SQLite file in WAL mode. Writes go to a writer thread that owns the write
 * connection and group-commits them (`sqlite/writer.ts`), so commits and their fsyncs never block the event
 * loop; reads run here on a connection of their own (`sqlite/reader.ts`).
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly reader: SqliteReader;
  private readonly writer: WriterClient;
  private readonly scratchDir: string | null;
  /** Executions read in a terminal status: their rows are immutable, and clients poll them. */
  private readonly finished = new LruMap<string, ExecutionRecord>(FINISHED_CACHE);

  constructor(options: SqliteStoreOptions) {
    this.scratchDir = options.file === ':memory:' ? mkdtempSync(join(tmpdir(), 'troupe-store-')) : null;
    const file = this.scratchDir ? join(this.scratchDir, 'troupe.db') : options.file;
    mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    migrate(this.db);
    this.reader = new SqliteReader(this.db);
    this.writer = new WriterClient({
      file,
      synchronous: options.synchronous ?? 'FULL',
      maxBatch: options.maxBatch ?? 512,
      commitDelayMs: options.commitDelayMs ?? 0,
    });
  }

  private write<T>(op: WriteOp): Promise<T> {
    return this.writer.write(op) as Promise<T>;
  }

  async createRun(run: RunRecord, executions: ExecutionRecord[]): Promise<void> {
    await this.write({ k: 'run', run, executions });
  }

  /** Group-committed with transitions: one fsync serves many concurrent submits. */
  async createExecution(execution: ExecutionRecord): Promise<void> {
    await this.write({ k: 'create', execution });
  }

  applyTransition(write: TransitionWrite): Promise<WriteOutcome> {
    return this.write({ k: 'transition', write });
  }

  /** Group-committed in order with transitions, so late steps follow the transition that ended their attempt. */
  recordSteps(write: StepsWrite): Promise<WriteOutcome> {
    return this.write({ k: 'steps', write });
  }

  async setRunStatus(runId: string, status: RunStatus, at: number): Promise<void> {
    await this.write({ k: 'runStatus', runId, status, at });
  }

  /**
   * A write per page of HISTORY_PAGE executions, each its own short transaction: the writes of the engine go
   * between them, so a run of 100,000 tests holds nothing up for long.
   */
  async recordRunHistory(runId: string, at: number): Promise<void> {
    for (let page = 0; await this.write<boolean>({ k: 'runHistory', runId, at, page }); page++);
  }

  runsWithoutHistory(limit: number): Promise<{ id: string; endedAt: number }[]> {
    return settle(() => this.reader.runsWithoutHistory(limit));
  }

  saveTestCase(record: TestCaseRecord, expectedVersion?: number): Promise<WriteOutcome> {
    return this.write({ k: 'testCase', record, ...(expectedVersion === undefined ? {} : { expectedVersion }) });
  }

  deleteTestCase(id: string): Promise<boolean> {
    return this.write({ k: 'deleteTestCase', id });
  }

  saveSuite(record: SuiteRecord, expectedVersion?: number): Promise<WriteOutcome> {
    return this.write({ k: 'suite', record, ...(expectedVersion === undefined ? {} : { expectedVersion }) });
  }

  deleteSuite(id: string): Promise<boolean> {
    return this.write({ k: 'deleteSuite', id });
  }

  async createApiKey(key: ApiKeyRecord): Promise<void> {
    await this.write({ k: 'apiKey', key });
  }

  revokeApiKey(id: string, at: number): Promise<boolean> {
    return this.write({ k: 'revokeApiKey', id, at });
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    await this.write({ k: 'audit', entry });
  }

  getExecution(id: string): Promise<ExecutionRecord | null> {
    const finished = this.finished.get(id);
    if (finished) return Promise.resolve(finished);
    return settle(() => {
      const record = this.reader.getExecution(id);
      // A terminal execution's row never changes again (retries and redrives are new executions).
      if (record && TERMINAL.has(record.status)) this.finished.set(id, record);
      return record;
    });
  }

  listExecutions(filter: ExecutionFilter): Promise<Page<ExecutionRecord>> {
    return settle(() => this.reader.listExecutions(filter));
  }

  listRuns(filter: RunFilter): Promise<Page<RunRecord>> {
    return settle(() => this.reader.listRuns(filter));
  }

  listActive(): Promise<ExecutionRecord[]> {
    return settle(() => this.reader.listActive());
  }

  listEvents(executionId: string): Promise<TransitionRecord[]> {
    return settle(() => this.reader.listEvents(executionId));
  }

  eventPage(executionId: string, afterSeq: number, limit: number): Promise<TransitionRecord[]> {
    return settle(() => this.reader.eventPage(executionId, afterSeq, limit));
  }

  eventsSince(cursor: number, limit: number): Promise<StoredEvent[]> {
    return settle(() => this.reader.eventsSince(cursor, limit));
  }

  logSince(cursor: number, limit: number): Promise<LogEntry[]> {
    return settle(() => this.reader.logSince(cursor, limit));
  }

  latestCursor(): Promise<number> {
    return settle(() => this.reader.latestCursor());
  }

  listSteps(executionId: string): Promise<StoredStep[]> {
    return settle(() => this.reader.listSteps(executionId));
  }

  getRun(id: string): Promise<RunRecord | null> {
    return settle(() => this.reader.getRun(id));
  }

  findRunByIdempotencyKey(owner: string, key: string): Promise<RunRecord | null> {
    return settle(() => this.reader.findRunByIdempotencyKey(owner, key));
  }

  listActiveRuns(): Promise<RunRecord[]> {
    return settle(() => this.reader.listActiveRuns());
  }

  runCounts(runId: string): Promise<Partial<Record<Status, number>>> {
    return settle(() => this.reader.runCounts(runId));
  }

  runMembers(runId: string): Promise<{ id: string; status: Status }[]> {
    return settle(() => this.reader.runMembers(runId));
  }

  runFacts(runId: string): Promise<ExecutionFacts[]> {
    return settle(() => this.reader.runFacts(runId));
  }

  runOutcomes(runId: string): Promise<TestOutcome[] | null> {
    return settle(() => this.reader.runOutcomes(runId));
  }

  previousRun(runId: string): Promise<string | null> {
    return settle(() => this.reader.previousRun(runId));
  }

  testHistory(series: string, names?: readonly string[]): Promise<Map<string, TestHistory>> {
    return settle(() => this.reader.testHistory(series, names));
  }

  getTestCase(id: string): Promise<TestCaseRecord | null> {
    return settle(() => this.reader.getTestCase(id));
  }

  listTestCases(filter: { owner?: string; limit: number; cursor?: string | null }): Promise<Page<TestCaseRecord>> {
    return settle(() => this.reader.listTestCases(filter));
  }

  getSuite(id: string): Promise<SuiteRecord | null> {
    return settle(() => this.reader.getSuite(id));
  }

  listSuites(filter: { owner?: string; limit: number; cursor?: string | null }): Promise<Page<SuiteRecord>> {
    return settle(() => this.reader.listSuites(filter));
  }

  findApiKeyByHash(hash: string): Promise<ApiKeyRecord | null> {
    return settle(() => this.reader.findApiKeyByHash(hash));
  }

  listApiKeys(): Promise<ApiKeyRecord[]> {
    return settle(() => this.reader.listApiKeys());
  }

  listAudit(limit: number): Promise<AuditEntry[]> {
    return settle(() => this.reader.listAudit(limit));
  }

  flush(): Promise<void> {
    return this.writer.flush();
  }

  failure(): Error | null {
    return this.writer.failed;
  }

  async close(): Promise<void> {
    await this.writer.close();
    this.db.close();
    if (this.scratchDir) rmSync(this.scratchDir, { recursive: true, force: true });
  }

  // Triggers, webhook deliveries and run notifications (SPEC §8).

  async saveTrigger(trigger: TriggerRecord): Promise<void> {
    await this.write({ k: 'trigger', record: trigger });
  }

  getTrigger(id: string): Promise<TriggerRecord | null> {
    return settle(() => this.reader.triggers.getTrigger(id));
  }

  listTriggers(filter: { owner?: string; limit: number; cursor?: string | null }): Promise<Page<TriggerRecord>> {
    return settle(() => this.reader.listTriggers(filter));
  }

  triggersFor(source: HookSource, repository: string): Promise<TriggerRecord[]> {
    return settle(() => this.reader.triggers.triggersFor(source, repository));
  }

  deleteTrigger(id: string): Promise<boolean> {
    return this.write({ k: 'deleteTrigger', id });
  }

  recordHookDelivery(delivery: HookDeliveryRecord): Promise<boolean> {
    return this.write({ k: 'hookDelivery', record: delivery });
  }

  getHookDelivery(source: HookSource, id: string): Promise<HookDeliveryRecord | null> {
    return settle(() => this.reader.triggers.getHookDelivery(source, id));
  }

  addNotification(notification: NotificationRecord): Promise<boolean> {
    return this.write({ k: 'notification', record: notification });
  }

  pendingNotifications(): Promise<NotificationRecord[]> {
    return settle(() => this.reader.triggers.pendingNotifications());
  }

  async recordNotifyAttempt(attempt: NotifyAttemptRecord, state?: 'delivered' | 'failed'): Promise<void> {
    await this.write({ k: 'notifyAttempt', attempt, ...(state === undefined ? {} : { state }) });
  }

  async endNotification(runId: string, state: 'delivered' | 'failed'): Promise<void> {
    await this.write({ k: 'endNotification', runId, state });
  }

  listNotifyAttempts(filter: { triggerId: string; limit: number; cursor?: string | null }): Promise<Page<NotifyAttemptRecord>> {
    return settle(() => this.reader.listNotifyAttempts(filter));
  }
}
