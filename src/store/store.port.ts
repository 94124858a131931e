import type { ExecutionMachineContext, TransitionRecord } from '../../machines/execution.machine.js';
import type { TestItem } from '../core/schemas.js';
import type {
  ExecutionContextKind,
  ItemType,
  Priority,
  RunStatus,
  Status,
} from '../core/statuses.js';
import type { PlainError } from '../core/errors.js';
import type { ExecutionFacts } from '../report/run-report.js';

/** An execution as stored. Times are epoch milliseconds. */
export interface ExecutionRecord {
  id: string;
  runId: string | null;
  name: string;
  type: ItemType;
  status: Status;
  priority: Priority;
  context: ExecutionContextKind;
  attempt: number;
  owner: string;
  createdAt: number;
  updatedAt: number;
  rerunOf: string | null;
  /** The definition this execution runs, snapshotted at submit. */
  item: TestItem;
  /** The lifecycle machine's context: sequence, deadlines, retry policy. */
  machine: ExecutionMachineContext;
  /** Equals `machine.seq`: the version conditional writes are checked against. */
  version: number;
}

export interface StepRecord {
  index: number;
  name: string;
  status: 'PASSED' | 'FAILED' | 'SKIPPED' | 'ERROR' | 'TIMEOUT' | 'CANCELLED';
  startedAt: number;
  durationMs: number;
  output?: string;
  error?: PlainError;
  /** A test case ingested from a JUnit file: the index of the `exec` step that produced it (SPEC §7 report). */
  caseOf?: number;
}

export interface StoredStep extends StepRecord {
  attempt: number;
}

export interface RunRecord {
  id: string;
  name: string;
  status: RunStatus;
  owner: string;
  priority: Priority;
  context: ExecutionContextKind;
  labels: Record<string, string>;
  failFast: boolean;
  maxParallel: number | null;
  idempotencyKey: string | null;
  /** Hash of the request body, to tell a replay from a conflicting reuse of the key. */
  requestHash: string | null;
  total: number;
  createdAt: number;
  updatedAt: number;
}

export interface StoredEvent {
  /** Global, strictly increasing position in the event log. */
  cursor: number;
  executionId: string;
  runId: string | null;
  record: TransitionRecord;
}

/**
 * One entry of the event log live channels follow: a transition, or a finished step. The steps of an attempt
 * are logged with the transition that ends it, just before it.
 */
export type LogEntry =
  | (StoredEvent & { kind: 'transition' })
  | { kind: 'step'; cursor: number; executionId: string; runId: string | null; step: StoredStep };

export interface TransitionWrite {
  executionId: string;
  /** The execution's run (fixed at creation), recorded with the event. */
  runId: string | null;
  /** The version the write is conditional on (the sequence before this transition). */
  expectedVersion: number;
  machine: ExecutionMachineContext;
  /** Steps of the attempt that just ended, written in the same transaction. */
  steps?: { attempt: number; items: StepRecord[] };
}

/** The steps of one attempt, reported after the attempt had already ended (a stopped runner's late result). */
export interface StepsWrite {
  executionId: string;
  runId: string | null;
  attempt: number;
  items: StepRecord[];
}

/** A conditional write's typed outcome; mapped to errors in one place (the execution actor). */
export type WriteOutcome = 'applied' | 'conflict' | 'not_found';

export interface AuditEntry {
  at: number;
  principal: string;
  action: string;
  target: string;
  source: string;
  details?: unknown;
}

export type Role = 'viewer' | 'runner' | 'admin';

/** A stored test case: a test item kept once and referenced by id. `version` increases on each update. */
export interface TestCaseRecord {
  id: string;
  owner: string;
  item: TestItem;
  version: number;
  createdAt: number;
  updatedAt: number;
}

/** A named, ordered list of test cases. */
export interface SuiteRecord {
  id: string;
  owner: string;
  name: string;
  testCaseIds: string[];
  version: number;
  createdAt: number;
  updatedAt: number;
}

/** An API key as stored: only the SHA-256 of the secret, never the secret itself. */
export interface ApiKeyRecord {
  id: string;
  hash: string;
  owner: string;
  role: Role;
  name: string;
  createdAt: number;
  revokedAt: number | null;
}

/** One test's outcome in a finished run (SPEC §8): kept for comparison, flakiness across runs and ordering. */
export interface TestOutcome {
  name: string;
  status: Status;
  durationMs: number;
  /** Failed an attempt and passed a later one in this run. */
  flaky: boolean;
}

/**
 * A test's recent record in a series: the finished runs of one owner with the same name and `labels.repository`
 * (`seriesOf` in src/core/series.ts).
 */
export interface TestHistory {
  name: string;
  /** Its outcomes in the last runs of the series that held it, oldest first, at most `HISTORY_DEPTH`. */
  outcomes: Status[];
  /** Its duration in the newest of them. */
  durationMs: number;
}

export interface Page<T> {
  items: T[];
  next: string | null;
}

export interface ExecutionFilter {
  runId?: string;
  status?: Status;
  owner?: string;
  priority?: Priority;
  context?: ExecutionContextKind;
  /** Epoch ms, exclusive bounds on `createdAt`. */
  createdAfter?: number;
  createdBefore?: number;
  limit: number;
  cursor?: string | null;
}

export interface RunFilter {
  owner?: string;
  status?: RunStatus;
  createdAfter?: number;
  createdBefore?: number;
  limit: number;
  cursor?: string | null;
}

/**
 * The store port. Every adapter passes test/contract/store.contract.ts.
 * Transitions are conditional on the expected version; creation writes the first event with the row.
 */
export interface Store {
  readonly kind: string;
  createRun(run: RunRecord, executions: ExecutionRecord[]): Promise<void>;
  createExecution(execution: ExecutionRecord): Promise<void>;
  applyTransition(write: TransitionWrite): Promise<WriteOutcome>;
  /**
   * Stores the steps of an attempt that ended without them (cancel, abort or a timeout decided by the engine,
   * before the worker's result came), logged as step events: `conflict` when that attempt already has steps
   * (nothing is overwritten), `not_found` for an unknown execution.
   */
  recordSteps(write: StepsWrite): Promise<WriteOutcome>;
  getExecution(id: string): Promise<ExecutionRecord | null>;
  listExecutions(filter: ExecutionFilter): Promise<Page<ExecutionRecord>>;
  /** Every execution not in a terminal status, oldest first: what a restarted engine must resume. */
  listActive(): Promise<ExecutionRecord[]>;
  listEvents(executionId: string): Promise<TransitionRecord[]>;
  /** One page of an execution's events: at most `limit` with `seq` above `afterSeq`, in `seq` order. */
  eventPage(executionId: string, afterSeq: number, limit: number): Promise<TransitionRecord[]>;
  /** Transition events after a global cursor, in cursor order. */
  eventsSince(cursor: number, limit: number): Promise<StoredEvent[]>;
  /** Transitions and step events after a global cursor, in cursor order (they share one cursor sequence). */
  logSince(cursor: number, limit: number): Promise<LogEntry[]>;
  /** The newest cursor in the event log, transitions and steps alike (0 when it is empty). */
  latestCursor(): Promise<number>;
  listSteps(executionId: string): Promise<StoredStep[]>;
  getRun(id: string): Promise<RunRecord | null>;
  findRunByIdempotencyKey(owner: string, key: string): Promise<RunRecord | null>;
  /** Newest first, paged like listExecutions. */
  listRuns(filter: RunFilter): Promise<Page<RunRecord>>;
  listActiveRuns(): Promise<RunRecord[]>;
  runCounts(runId: string): Promise<Partial<Record<Status, number>>>;
  /** A run's executions in creation (item) order with their statuses. */
  runMembers(runId: string): Promise<{ id: string; status: Status }[]>;
  setRunStatus(runId: string, status: RunStatus, at: number): Promise<void>;
  /**
   * Records an ended run's test outcomes (each test as its report names it) and folds them into the test history
   * of its series, in one transaction; once per run (a second call records nothing).
   */
  recordRunHistory(runId: string, at: number): Promise<void>;
  /**
   * Ended runs whose history was never recorded (the process stopped between the two writes), oldest first, from
   * among the newest `limit` ended runs.
   */
  runsWithoutHistory(limit: number): Promise<{ id: string; endedAt: number }[]>;
  /** A run's executions in creation order with their transitions and steps: what its report is made of. */
  runFacts(runId: string): Promise<ExecutionFacts[]>;
  /** The outcomes recorded when the run ended, in report order; null while it has not ended. */
  runOutcomes(runId: string): Promise<TestOutcome[] | null>;
  /** The newest ended run of the same series created before this one, if any. */
  previousRun(runId: string): Promise<string | null>;
  /** The history of the series' tests, by test name; `names` narrows it to those tests (read by key when few). */
  testHistory(series: string, names?: readonly string[]): Promise<Map<string, TestHistory>>;
  /** Inserts or, when `expectedVersion` is given, replaces conditionally; the typed outcome says which. */
  saveTestCase(testCase: TestCaseRecord, expectedVersion?: number): Promise<WriteOutcome>;
  getTestCase(id: string): Promise<TestCaseRecord | null>;
  listTestCases(filter: { owner?: string; limit: number; cursor?: string | null }): Promise<Page<TestCaseRecord>>;
  deleteTestCase(id: string): Promise<boolean>;
  saveSuite(suite: SuiteRecord, expectedVersion?: number): Promise<WriteOutcome>;
  getSuite(id: string): Promise<SuiteRecord | null>;
  listSuites(filter: { owner?: string; limit: number; cursor?: string | null }): Promise<Page<SuiteRecord>>;
  deleteSuite(id: string): Promise<boolean>;
  createApiKey(key: ApiKeyRecord): Promise<void>;
  findApiKeyByHash(hash: string): Promise<ApiKeyRecord | null>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** False when there is no such key or it was already revoked. */
  revokeApiKey(id: string, at: number): Promise<boolean>;
  appendAudit(entry: AuditEntry): Promise<void>;
  listAudit(limit: number): Promise<AuditEntry[]>;
  /** Waits until every write accepted before the call is durable (or has failed); later writes do not hold it up. */
  flush(): Promise<void>;
  /** The error that stopped this store taking writes for good (its writer died), or null while it takes them. */
  failure(): Error | null;
  close(): Promise<void>;

  // Triggers, webhook deliveries and run notifications (SPEC §8).
  saveTrigger(trigger: TriggerRecord): Promise<void>;
  getTrigger(id: string): Promise<TriggerRecord | null>;
  /** Newest first, paged like listSuites. */
  listTriggers(filter: { owner?: string; limit: number; cursor?: string | null }): Promise<Page<TriggerRecord>>;
  /** The triggers of one repository of one provider (the repository compared without regard to ASCII case), oldest first. */
  triggersFor(source: HookSource, repository: string): Promise<TriggerRecord[]>;
  /** False when there is no such trigger. */
  deleteTrigger(id: string): Promise<boolean>;
  /**
   * Stores a delivery unless one with the same source and id is stored: false then, and the stored one stands
   * (the key decides between two concurrent deliveries).
   */
  recordHookDelivery(delivery: HookDeliveryRecord): Promise<boolean>;
  getHookDelivery(source: HookSource, id: string): Promise<HookDeliveryRecord | null>;
  /** Stores a pending notification unless the run has one: false then. */
  addNotification(notification: NotificationRecord): Promise<boolean>;
  /** Every notification still pending, oldest first: what a restarted server must send. */
  pendingNotifications(): Promise<NotificationRecord[]>;
  /**
   * Stores an attempt and counts it on the run's notification; with `state`, also ends the notification in that state
   * (same transaction).
   */
  recordNotifyAttempt(attempt: NotifyAttemptRecord, state?: 'delivered' | 'failed'): Promise<void>;
  /** Ends a notification without an attempt (its trigger is gone). */
  endNotification(runId: string, state: 'delivered' | 'failed'): Promise<void>;
  /** A trigger's notification attempts, newest first, paged. */
  listNotifyAttempts(filter: { triggerId: string; limit: number; cursor?: string | null }): Promise<Page<NotifyAttemptRecord>>;
}

/** A webhook provider (SPEC §8). */
export type HookSource = 'github' | 'gitlab';

/**
 * A CI trigger (SPEC §8): a delivery of `source` for `repository` whose event is one of `events` and whose branch
 * matches one of `branches` (every branch when null) starts one run of `suiteId`, owned by `owner`.
 */
export interface TriggerRecord {
  id: string;
  owner: string;
  name: string;
  source: HookSource;
  repository: string;
  events: string[];
  /** Branch globs; null matches every branch. */
  branches: string[] | null;
  suiteId: string;
  /** Where the report summary of each run it started is posted, signed with `secret`; null for none. */
  notify: { url: string; secret: string } | null;
  createdAt: number;
}

/** A webhook delivery as answered: the same delivery id again answers the same runs. */
export interface HookDeliveryRecord {
  source: HookSource;
  /** The provider's delivery id (`X-GitHub-Delivery`, `X-Gitlab-Event-UUID`). */
  id: string;
  event: string;
  runs: string[];
  receivedAt: number;
}

/**
 * A run whose end is to be posted to its trigger's `notify.url`: stored when the run starts, so a notification
 * still owed when the server stops is sent after a restart.
 */
export interface NotificationRecord {
  runId: string;
  triggerId: string;
  state: 'pending' | 'delivered' | 'failed';
  /** Attempts made so far (a restart goes on counting from here). */
  attempts: number;
  createdAt: number;
}

/** One attempt at posting a notification. */
export interface NotifyAttemptRecord {
  /** Time-ordered (`ntf_…`): the newest attempt has the greatest id. */
  id: string;
  triggerId: string;
  runId: string;
  /** 1, 2, 3… per run. */
  attempt: number;
  at: number;
  /** The receiver's HTTP status; null when no answer came (the error says why). */
  statusCode: number | null;
  error: string | null;
  ok: boolean;
}
