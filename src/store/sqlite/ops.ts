/**
 * The messages between the store on the main thread and its writer thread. Only plain data crosses the
 * thread boundary: records as the store port defines them, results as plain values, errors as
 * `{ message, code }`.
 */
import type {
  ApiKeyRecord,
  AuditEntry,
  ExecutionRecord,
  RunRecord,
  StepsWrite,
  SuiteRecord,
  TestCaseRecord,
  TransitionWrite,
  HookDeliveryRecord,
  NotificationRecord,
  NotifyAttemptRecord,
  TriggerRecord,
} from '../store.port.js';
import type { RunStatus } from '../../core/statuses.js';

/** One write. Every write of the store goes through the writer thread as one of these. */
export type WriteOp =
  | { k: 'run'; run: RunRecord; executions: ExecutionRecord[] }
  | { k: 'create'; execution: ExecutionRecord }
  | { k: 'transition'; write: TransitionWrite }
  | { k: 'steps'; write: StepsWrite }
  | { k: 'runStatus'; runId: string; status: RunStatus; at: number }
  | { k: 'runHistory'; runId: string; at: number; page: number }
  | { k: 'testCase'; record: TestCaseRecord; expectedVersion?: number }
  | { k: 'deleteTestCase'; id: string }
  | { k: 'suite'; record: SuiteRecord; expectedVersion?: number }
  | { k: 'deleteSuite'; id: string }
  | { k: 'apiKey'; key: ApiKeyRecord }
  | { k: 'revokeApiKey'; id: string; at: number }
  | { k: 'audit'; entry: AuditEntry }
  | TriggerWriteOp;

/** Writes of triggers, webhook deliveries and run notifications (SPEC §8); `trigger-writes.ts` applies them. */
export type TriggerWriteOp =
  | { k: 'trigger'; record: TriggerRecord }
  | { k: 'deleteTrigger'; id: string }
  | { k: 'hookDelivery'; record: HookDeliveryRecord }
  | { k: 'notification'; record: NotificationRecord }
  | { k: 'notifyAttempt'; attempt: NotifyAttemptRecord; state?: 'delivered' | 'failed' }
  | { k: 'endNotification'; runId: string; state: 'delivered' | 'failed' };

/** What a write answered: a conditional write's outcome, whether something was changed, or nothing. */
export type WriteValue = string | boolean | null;

/** One write's result: its value, or the error that rolled it back. */
export type WriteResult = { ok: WriteValue } | { err: { message: string; code?: string } };

/** Main thread → writer. */
export type WriterRequest = { type: 'batch'; id: number; ops: WriteOp[] } | { type: 'close' };

/** Writer → main thread: the results of every batch a commit covered, in the order they were sent. */
export type WriterReply = { type: 'done'; batches: [id: number, results: WriteResult[]][] } | { type: 'closed' };

/** What the writer thread is started with. */
export interface WriterConfig {
  file: string;
  synchronous: 'FULL' | 'NORMAL';
  /** Most writes committed in one transaction. */
  maxBatch: number;
  /** Fault injection: held after every commit, as a slow disk's fsync would hold it. */
  commitDelayMs: number;
}
