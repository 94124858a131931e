import { advance, createContext, type ExecutionMachineContext } from '../../machines/execution.machine.js';
import type { RetryPolicy } from '../../machines/retry-policy.js';
import { newId } from '../../src/core/ids.js';
import type { EventType, Status } from '../../src/core/statuses.js';
import type { ExecutionRecord, RunRecord, StepRecord, TransitionWrite } from '../../src/store/store.port.js';

/**
 * Record builders for the store contract. Contexts come from the lifecycle machine's own `createContext` and
 * `advance`, so what the suite writes is exactly what the execution actor would write.
 */

/** Fixture time: strictly increasing, so every record and transition has its own `at`. */
let now = Date.UTC(2030, 0, 1);
export function tick(): number {
  now += 1_000;
  return now;
}

const RETRY: RetryPolicy = {
  maxAttempts: 3,
  delayMs: 1_000,
  backoff: 'exponential',
  maxDelayMs: 60_000,
  jitter: 0.2,
  retryOn: ['ERROR', 'TIMEOUT'],
};

/**
 * The legal moves of SPEC §3 (25 status pairs; FAIL/ERROR/TIMEOUT reach RETRYING from RUNNING). The store does not
 * judge legality — the machine does — but realistic sequences keep the fixtures honest.
 */
export const MOVES: Readonly<Record<Status, readonly (readonly [EventType, Status])[]>> = {
  SCHEDULED: [['DUE', 'PENDING'], ['CANCEL', 'CANCELLED'], ['SKIP', 'SKIPPED'], ['ABORT', 'ABORTED']],
  PENDING: [['START', 'RUNNING'], ['CANCEL', 'CANCELLED'], ['SKIP', 'SKIPPED'], ['TIMEOUT', 'TIMEOUT'], ['ABORT', 'ABORTED']],
  RUNNING: [
    ['PASS', 'PASSED'],
    ['FAIL', 'RETRYING'],
    ['FAIL', 'FAILED'],
    ['ERROR', 'RETRYING'],
    ['ERROR', 'ERROR'],
    ['TIMEOUT', 'RETRYING'],
    ['TIMEOUT', 'TIMEOUT'],
    ['SKIP', 'SKIPPED'],
    ['PAUSE', 'PAUSED'],
    ['CANCEL', 'CANCELLED'],
    ['ABORT', 'ABORTED'],
  ],
  PAUSED: [['RESUME', 'RUNNING'], ['CANCEL', 'CANCELLED'], ['TIMEOUT', 'TIMEOUT'], ['ABORT', 'ABORTED']],
  RETRYING: [['START', 'RUNNING'], ['CANCEL', 'CANCELLED'], ['ABORT', 'ABORTED']],
  PASSED: [],
  FAILED: [],
  SKIPPED: [],
  CANCELLED: [],
  TIMEOUT: [],
  ERROR: [],
  ABORTED: [],
};

export interface ExecutionOptions {
  runId?: string | null;
  owner?: string;
  /** Created SCHEDULED (scheduledAt in the future) instead of PENDING. */
  scheduled?: boolean;
  rerunOf?: string | null;
  name?: string;
}

/** A new execution with every field set to something distinguishable, and its creation record (seq 1). */
export function makeExecution(options: ExecutionOptions = {}): ExecutionRecord {
  const id = newId('exe');
  const at = tick();
  const machine = createContext({
    id,
    at,
    actor: 'user:alice',
    retry: RETRY,
    timeoutMs: 120_000,
    queueTimeoutMs: 600_000,
    pauseTimeoutMs: 300_000,
    scheduledAt: options.scheduled ? at + 3_600_000 : null,
  });
  return {
    id,
    runId: options.runId ?? null,
    name: options.name ?? `login works ${id.slice(-6)}`,
    type: 'GENERIC',
    status: machine.last.to,
    priority: 'HIGH',
    context: 'CI_CD',
    attempt: 1,
    owner: options.owner ?? 'alice',
    createdAt: at,
    updatedAt: at,
    rerunOf: options.rerunOf ?? null,
    item: {
      name: 'login works',
      type: 'GENERIC',
      steps: [{ action: 'noop' }, { action: 'sleep', ms: 5, name: 'nap' }],
      timeoutMs: 120_000,
      retry: { maxAttempts: 3, retryOn: ['ERROR', 'TIMEOUT'] },
      labels: { team: 'web', 'unicode ✓': 'ünïcödé "quoted"' },
      requires: { os: 'linux' },
    },
    machine,
    version: machine.seq,
  };
}

export interface RunOptions {
  owner?: string;
  idempotencyKey?: string | null;
  total?: number;
}

export function makeRun(options: RunOptions = {}): RunRecord {
  const at = tick();
  return {
    id: newId('run'),
    name: 'nightly',
    status: 'PENDING',
    owner: options.owner ?? 'alice',
    priority: 'LOW',
    context: 'BULK',
    labels: { commit: 'abc123', branch: 'main' },
    failFast: true,
    maxParallel: 4,
    idempotencyKey: options.idempotencyKey ?? null,
    requestHash: options.idempotencyKey ? `hash-of-${options.idempotencyKey}` : null,
    total: options.total ?? 0,
    createdAt: at,
    updatedAt: at,
  };
}

/** A run with `n` executions, in item order. */
export function makeRunWithExecutions(
  n: number,
  options: RunOptions = {},
): { run: RunRecord; executions: ExecutionRecord[] } {
  const run = makeRun({ ...options, total: n });
  const executions = Array.from({ length: n }, (_, i) =>
    makeExecution({ runId: run.id, owner: run.owner, name: `item ${i}` }),
  );
  return { run, executions };
}

/** The machine context after `event` takes the execution from its current status to `to`. */
export function nextMachine(
  machine: ExecutionMachineContext,
  event: EventType,
  to: Status,
  actor = 'engine',
): ExecutionMachineContext {
  return advance(machine, { type: event, at: tick(), actor, reason: `${event} by ${actor}`, random: 0.5 }, machine.last.to, to);
}

/** The conditional write the execution actor would issue for that transition. */
export function writeFor(
  machine: ExecutionMachineContext,
  event: EventType,
  to: Status,
  steps?: TransitionWrite['steps'],
  runId: string | null = null,
): TransitionWrite {
  const next = nextMachine(machine, event, to);
  return { executionId: machine.id, runId, expectedVersion: machine.seq, machine: next, ...(steps ? { steps } : {}) };
}

/** The stored execution after a write was applied: the row follows the machine. */
export function afterWrite(record: ExecutionRecord, write: TransitionWrite): ExecutionRecord {
  return {
    ...record,
    status: write.machine.last.to,
    attempt: write.machine.attempt,
    updatedAt: write.machine.last.at,
    machine: write.machine,
    version: write.machine.seq,
  };
}

export function step(index: number, status: StepRecord['status'], extra: Partial<StepRecord> = {}): StepRecord {
  return { index, name: `step ${index}`, status, startedAt: tick(), durationMs: 10 + index, ...extra };
}
