import { assign, setup } from 'xstate';
import type { EventType, RetryableOutcome, Status } from '../src/core/statuses.js';
import { backoffDelay, retryCovers, type RetryPolicy } from './retry-policy.js';

/**
 * The execution lifecycle (SPEC §3): twelve statuses, 25 legal status pairs, retry guards and
 * absolute deadlines. Pure: times come in on events (`at`), randomness for jitter too (`random`).
 * Timers that fire DUE/TIMEOUT/START are armed by actors/execution.actor.ts from the deadlines kept here.
 */

/** Every lifecycle event carries when it happened and who caused it. */
export interface LifecycleEventBase {
  at: number;
  actor: string;
  reason?: string;
  /** In [0, 1): drawn by the caller for retry jitter. */
  random?: number;
  /** False when the failure is known not to heal on retry (e.g. a definition error): no retry then. */
  retryable?: boolean;
}
export type ExecutionEvent = { type: EventType } & LifecycleEventBase;

/** What is persisted and published for each applied transition. */
export interface TransitionRecord {
  seq: number;
  from: Status | null;
  to: Status;
  event: EventType | 'CREATE';
  at: number;
  attempt: number;
  reason: string | null;
  actor: string;
}

export interface ExecutionMachineContext {
  id: string;
  /** Sequence number of the last applied transition; the creation is 1. */
  seq: number;
  /** 1-based; increases when START leaves RETRYING. */
  attempt: number;
  retry: RetryPolicy;
  timeoutMs: number;
  queueTimeoutMs: number | null;
  pauseTimeoutMs: number | null;
  scheduledAt: number | null;
  runDeadlineAt: number | null;
  queueDeadlineAt: number | null;
  pauseDeadlineAt: number | null;
  retryAt: number | null;
  /** Run time left when paused; the run deadline is re-armed with it on RESUME. */
  remainingRunMs: number | null;
  last: TransitionRecord;
}

export interface ExecutionMachineInput {
  id: string;
  at: number;
  actor: string;
  retry: RetryPolicy;
  timeoutMs: number;
  queueTimeoutMs?: number | null;
  pauseTimeoutMs?: number | null;
  scheduledAt?: number | null;
}

/** The status an execution is created in: SCHEDULED when `scheduledAt` is in the future, else PENDING. */
export function initialStatus(input: Pick<ExecutionMachineInput, 'at' | 'scheduledAt'>): 'SCHEDULED' | 'PENDING' {
  return input.scheduledAt != null && input.scheduledAt > input.at ? 'SCHEDULED' : 'PENDING';
}

/** The context of a new execution, with its creation record (seq 1, from null). */
export function createContext(input: ExecutionMachineInput): ExecutionMachineContext {
  const to = initialStatus(input);
  const queueTimeoutMs = input.queueTimeoutMs ?? null;
  return {
    id: input.id,
    seq: 1,
    attempt: 1,
    retry: input.retry,
    timeoutMs: input.timeoutMs,
    queueTimeoutMs,
    pauseTimeoutMs: input.pauseTimeoutMs ?? null,
    scheduledAt: to === 'SCHEDULED' ? (input.scheduledAt ?? null) : null,
    runDeadlineAt: null,
    queueDeadlineAt: to === 'PENDING' && queueTimeoutMs !== null ? input.at + queueTimeoutMs : null,
    pauseDeadlineAt: null,
    retryAt: null,
    remainingRunMs: null,
    last: { seq: 1, from: null, to, event: 'CREATE', at: input.at, attempt: 1, reason: null, actor: input.actor },
  };
}

/** The context after applying `event` from `from` to `to`: sequence, attempt and deadlines. */
export function advance(
  ctx: ExecutionMachineContext,
  event: ExecutionEvent,
  from: Status,
  to: Status,
): ExecutionMachineContext {
  const at = event.at;
  const next: ExecutionMachineContext = {
    ...ctx,
    seq: ctx.seq + 1,
    runDeadlineAt: null,
    queueDeadlineAt: null,
    pauseDeadlineAt: null,
    retryAt: null,
    scheduledAt: null,
  };
  switch (to) {
    case 'PENDING':
      next.queueDeadlineAt = ctx.queueTimeoutMs === null ? null : at + ctx.queueTimeoutMs;
      break;
    case 'RUNNING':
      if (from === 'PAUSED') {
        next.runDeadlineAt = at + (ctx.remainingRunMs ?? ctx.timeoutMs);
      } else {
        if (from === 'RETRYING') next.attempt = ctx.attempt + 1;
        next.runDeadlineAt = at + ctx.timeoutMs;
      }
      next.remainingRunMs = null;
      break;
    case 'PAUSED':
      next.remainingRunMs = Math.max(0, (ctx.runDeadlineAt ?? at + ctx.timeoutMs) - at);
      next.pauseDeadlineAt = at + (ctx.pauseTimeoutMs ?? ctx.timeoutMs);
      break;
    case 'RETRYING':
      next.retryAt = at + backoffDelay(ctx.retry, ctx.attempt, event.random ?? 0.5);
      break;
    default:
      next.remainingRunMs = null;
  }
  next.last = {
    seq: next.seq,
    from,
    to,
    event: event.type,
    at,
    attempt: next.attempt,
    reason: event.reason ?? null,
    actor: event.actor,
  };
  return next;
}

const go = <F extends Status, T extends Status>(from: F, to: T) =>
  ({ target: to, actions: [{ type: 'record', params: { from, to } }, { type: 'emitTransition' }] }) as const;
const retryOr = <T extends Status>(outcome: RetryableOutcome & T) =>
  [
    { ...go('RUNNING', 'RETRYING'), guard: { type: 'retryCovers', params: { outcome } } },
    go('RUNNING', outcome),
  ] as const;

export const executionMachine = setup({
  types: {
    context: {} as ExecutionMachineContext,
    events: {} as ExecutionEvent,
    input: {} as ExecutionMachineInput,
  },
  actions: {
    record: assign(({ context, event }, params: { from: Status; to: Status }) =>
      advance(context, event, params.from, params.to),
    ),
    /** Effect hook: actors/execution.actor.ts persists and publishes the applied transition here. */
    emitTransition: () => undefined,
  },
  guards: {
    retryCovers: ({ context, event }, params: { outcome: RetryableOutcome }) =>
      event.retryable !== false && retryCovers(context.retry, context.attempt, params.outcome),
  },
}).createMachine({
  id: 'execution',
  context: ({ input }) => {
    // `initial` is static: a SCHEDULED execution must start from createSnapshot(), not from input alone.
    if (initialStatus(input) !== 'PENDING') throw new Error('create SCHEDULED executions with createSnapshot(input)');
    return createContext(input);
  },
  initial: 'PENDING',
  states: {
    SCHEDULED: {
      on: {
        DUE: go('SCHEDULED', 'PENDING'),
        CANCEL: go('SCHEDULED', 'CANCELLED'),
        SKIP: go('SCHEDULED', 'SKIPPED'),
        ABORT: go('SCHEDULED', 'ABORTED'),
      },
    },
    PENDING: {
      on: {
        START: go('PENDING', 'RUNNING'),
        CANCEL: go('PENDING', 'CANCELLED'),
        SKIP: go('PENDING', 'SKIPPED'),
        TIMEOUT: go('PENDING', 'TIMEOUT'),
        ABORT: go('PENDING', 'ABORTED'),
      },
    },
    RUNNING: {
      on: {
        PASS: go('RUNNING', 'PASSED'),
        FAIL: retryOr('FAILED'),
        ERROR: retryOr('ERROR'),
        TIMEOUT: retryOr('TIMEOUT'),
        SKIP: go('RUNNING', 'SKIPPED'),
        PAUSE: go('RUNNING', 'PAUSED'),
        CANCEL: go('RUNNING', 'CANCELLED'),
        ABORT: go('RUNNING', 'ABORTED'),
      },
    },
    PAUSED: {
      on: {
        RESUME: go('PAUSED', 'RUNNING'),
        CANCEL: go('PAUSED', 'CANCELLED'),
        TIMEOUT: go('PAUSED', 'TIMEOUT'),
        ABORT: go('PAUSED', 'ABORTED'),
      },
    },
    RETRYING: {
      on: {
        START: go('RETRYING', 'RUNNING'),
        CANCEL: go('RETRYING', 'CANCELLED'),
        ABORT: go('RETRYING', 'ABORTED'),
      },
    },
    PASSED: { type: 'final' },
    FAILED: { type: 'final' },
    SKIPPED: { type: 'final' },
    CANCELLED: { type: 'final' },
    TIMEOUT: { type: 'final' },
    ERROR: { type: 'final' },
    ABORTED: { type: 'final' },
  },
});

export type ExecutionMachine = typeof executionMachine;

/** The snapshot of a new execution, in SCHEDULED or PENDING as its input says. */
export function createSnapshot(input: ExecutionMachineInput) {
  return executionMachine.resolveState({ value: initialStatus(input), context: createContext(input) });
}
