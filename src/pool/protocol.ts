/**
 * The message protocol between the main thread and pool worker threads. Only plain data crosses:
 * errors travel as PlainError.
 */
import type { PlainError } from '../core/errors.js';
import type { TestItem } from '../core/schemas.js';

export interface PoolTask {
  jobId: string;
  executionId: string;
  attempt: number;
  item: TestItem;
  deadlineAt: number;
}

export type StepStatus = 'PASSED' | 'FAILED' | 'SKIPPED' | 'ERROR' | 'TIMEOUT' | 'CANCELLED';

export interface PoolStep {
  index: number;
  name: string;
  status: StepStatus;
  startedAt: number;
  durationMs: number;
  output?: string;
  error?: PlainError;
  /** Set on a test case ingested from a JUnit file: the index of the `exec` step that produced it. */
  caseOf?: number;
}

export interface PoolOutcome {
  outcome: 'PASSED' | 'FAILED' | 'ERROR' | 'TIMEOUT' | 'SKIPPED' | 'CANCELLED';
  reason: string | null;
  error?: PlainError;
  steps: PoolStep[];
}

/** Posted on the control channel by the main thread to stop a running task cooperatively. */
export interface PoolControl {
  jobId: string;
  type: 'cancel' | 'abort';
  reason: string;
}

/** Posted by a worker thread when it starts a task, so a runner that will not stop can be killed with its thread. */
export interface PoolStarted {
  jobId: string;
  type: 'started';
  threadId: number;
}

export const CONTROL_CHANNEL = 'troupe:pool-control';
