/**
 * The message protocol between the main thread and pool worker threads. Only plain data crosses:
 * errors travel as PlainError.
 */
import type { PlainError } from '../core/errors.js';
import type { MessagePort } from 'node:worker_threads';
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

/**
 * One Piscina task: the jobs handed to the pool in one event-loop turn for one thread. Per-job messages would
 * cost a `postMessage` each way per job.
 */
export interface PoolBatch {
  id: number;
  tasks: PoolTask[];
}

/**
 * Posted once by each pool thread on Piscina's parent port when it starts: the port it reports on. Piscina
 * passes such messages on as its `message` event.
 */
export interface PoolPortMessage {
  type: 'troupe:pool-port';
  threadId: number;
  port: MessagePort;
}

/** Main thread → worker thread, on the thread's port: stop one of its tasks cooperatively. */
export interface PoolStop {
  jobId: string;
  kind: 'cancel' | 'abort';
  reason: string;
}

/**
 * Worker thread → main thread, on the thread's port: that it took a batch (first, so that a runner that will
 * not stop can be killed with its thread), then the results of the tasks that finished, one message per turn of
 * the thread's event loop.
 */
export type PoolReport = { type: 'started'; batch: number } | { type: 'results'; results: [jobId: string, outcome: PoolOutcome][] };
