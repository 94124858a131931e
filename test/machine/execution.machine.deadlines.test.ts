import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock, transition, type SnapshotFrom } from 'xstate';
import {
  createContext,
  executionMachine,
  initialStatus,
  type ExecutionEvent,
  type ExecutionMachineContext,
  type ExecutionMachineInput,
  type TransitionRecord,
} from '../../machines/execution.machine.js';
import { backoffDelay, type RetryPolicy } from '../../machines/retry-policy.js';
import { TERMINAL_STATUSES, type EventType, type Status } from '../../src/core/statuses.js';

type Snap = SnapshotFrom<typeof executionMachine>;

const POLICY: RetryPolicy = {
  maxAttempts: 3,
  delayMs: 2_000,
  backoff: 'exponential',
  maxDelayMs: 60_000,
  jitter: 0.5,
  retryOn: ['ERROR', 'TIMEOUT'],
};
const T0 = 1_700_000_000_000;
const MIN = 60_000;

function create(overrides: Partial<ExecutionMachineInput> = {}): Snap {
  const i: ExecutionMachineInput = { id: 'e', at: T0, actor: 'api', retry: POLICY, timeoutMs: 30 * MIN, ...overrides };
  return executionMachine.resolveState({ value: initialStatus(i), context: createContext(i) });
}

function send(snap: Snap, type: EventType, at: number, extra: Partial<ExecutionEvent> = {}): Snap {
  const [next] = transition(executionMachine, snap, { type, at, actor: 'test', ...extra });
  expect(next.context.seq, `${type} from ${snap.value}`).toBe(snap.context.seq + 1);
  return next;
}

const deadlines = (c: ExecutionMachineContext) => ({
  scheduledAt: c.scheduledAt,
  queueDeadlineAt: c.queueDeadlineAt,
  runDeadlineAt: c.runDeadlineAt,
  pauseDeadlineAt: c.pauseDeadlineAt,
  retryAt: c.retryAt,
  remainingRunMs: c.remainingRunMs,
});
const NONE = {
  scheduledAt: null,
  queueDeadlineAt: null,
  runDeadlineAt: null,
  pauseDeadlineAt: null,
  retryAt: null,
  remainingRunMs: null,
};

describe('deadlines are absolute times kept in the context', () => {
  it('queue deadline is set on entering PENDING (at creation or on DUE) only when queueTimeoutMs is set', () => {
    expect(deadlines(create({ queueTimeoutMs: 5 * MIN }).context)).toEqual({ ...NONE, queueDeadlineAt: T0 + 5 * MIN });
    expect(deadlines(create().context)).toEqual(NONE);

    const scheduled = create({ queueTimeoutMs: 5 * MIN, scheduledAt: T0 + 10 * MIN });
    expect(deadlines(scheduled.context)).toEqual({ ...NONE, scheduledAt: T0 + 10 * MIN });
    const due = send(scheduled, 'DUE', T0 + 10 * MIN + 7);
    expect(deadlines(due.context)).toEqual({ ...NONE, queueDeadlineAt: T0 + 15 * MIN + 7 });

    const dueNoQueue = send(create({ scheduledAt: T0 + 10 * MIN }), 'DUE', T0 + 10 * MIN);
    expect(deadlines(dueNoQueue.context)).toEqual(NONE);
  });

  it('START arms the run deadline at START.at + timeoutMs and drops the queue deadline', () => {
    const running = send(create({ queueTimeoutMs: 5 * MIN, timeoutMs: 90_000 }), 'START', T0 + 1_234);
    expect(deadlines(running.context)).toEqual({ ...NONE, runDeadlineAt: T0 + 1_234 + 90_000 });
  });

  it('PAUSE keeps the remaining run time and arms the pause deadline; RESUME re-arms the run deadline', () => {
    let s = send(create({ timeoutMs: 100_000, pauseTimeoutMs: 10 * MIN }), 'START', T0 + 1_000);
    s = send(s, 'PAUSE', T0 + 31_000);
    expect(deadlines(s.context)).toEqual({ ...NONE, remainingRunMs: 70_000, pauseDeadlineAt: T0 + 31_000 + 10 * MIN });
    s = send(s, 'RESUME', T0 + 500_000);
    expect(deadlines(s.context)).toEqual({ ...NONE, runDeadlineAt: T0 + 500_000 + 70_000 });
    // A second pause takes from what was left, not from a fresh timeout.
    s = send(s, 'PAUSE', T0 + 520_000);
    expect(s.context.remainingRunMs).toBe(50_000);
    s = send(s, 'RESUME', T0 + 600_000);
    expect(s.context.runDeadlineAt).toBe(T0 + 650_000);
  });

  it('the pause deadline falls back to timeoutMs without pauseTimeoutMs', () => {
    let s = send(create({ timeoutMs: 100_000 }), 'START', T0);
    s = send(s, 'PAUSE', T0 + 40_000);
    expect(s.context.pauseDeadlineAt).toBe(T0 + 140_000);
    expect(s.context.remainingRunMs).toBe(60_000);
  });

  it('pausing after the run deadline passed leaves no run time (never negative)', () => {
    let s = send(create({ timeoutMs: 10_000 }), 'START', T0);
    s = send(s, 'PAUSE', T0 + 25_000);
    expect(s.context.remainingRunMs).toBe(0);
    s = send(s, 'RESUME', T0 + 30_000);
    expect(s.context.runDeadlineAt).toBe(T0 + 30_000);
  });

  it('RETRYING sets retryAt = at + backoffDelay(policy, attempt, random); START then gives a fresh full timeout', () => {
    let s = send(create({ timeoutMs: 100_000 }), 'START', T0);
    s = send(s, 'ERROR', T0 + 5_000, { random: 0.25 });
    // Attempt 1, exponential 2 s, jitter 0.5, random 0.25: 2000 · (1 − 0.125) = 1750.
    expect(backoffDelay(POLICY, 1, 0.25)).toBe(1_750);
    expect(deadlines(s.context)).toEqual({ ...NONE, retryAt: T0 + 5_000 + 1_750 });
    s = send(s, 'START', T0 + 6_750);
    expect(s.context.attempt).toBe(2);
    expect(deadlines(s.context)).toEqual({ ...NONE, runDeadlineAt: T0 + 6_750 + 100_000 });
    s = send(s, 'TIMEOUT', T0 + 106_750, { random: 0 });
    // Attempt 2 doubles the base delay; random 0 takes all of it.
    expect(s.context.retryAt).toBe(T0 + 106_750 + 4_000);
  });

  it('RETRYING without a random draw still stays within the jitter bounds', () => {
    let s = send(create(), 'START', T0);
    s = send(s, 'ERROR', T0 + 1_000);
    const delay = s.context.retryAt! - (T0 + 1_000);
    expect(delay).toBeGreaterThanOrEqual(1_000);
    expect(delay).toBeLessThanOrEqual(2_000);
  });

  describe('terminal statuses clear every deadline', () => {
    const origins: Array<[string, () => Snap, EventType[]]> = [
      ['SCHEDULED', () => create({ scheduledAt: T0 + MIN, queueTimeoutMs: MIN }), ['CANCEL', 'SKIP', 'ABORT']],
      ['PENDING', () => create({ queueTimeoutMs: MIN }), ['CANCEL', 'SKIP', 'TIMEOUT', 'ABORT']],
      [
        'RUNNING',
        () => send(create({ queueTimeoutMs: MIN }), 'START', T0 + 1),
        ['PASS', 'SKIP', 'CANCEL', 'ABORT'],
      ],
      [
        'RUNNING (last attempt)',
        () => send(create({ retry: { ...POLICY, maxAttempts: 1, retryOn: ['FAILED', 'ERROR', 'TIMEOUT'] } }), 'START', T0),
        ['FAIL', 'ERROR', 'TIMEOUT'],
      ],
      ['PAUSED', () => send(send(create(), 'START', T0 + 1), 'PAUSE', T0 + 2), ['CANCEL', 'TIMEOUT', 'ABORT']],
      ['RETRYING', () => send(send(create(), 'START', T0 + 1), 'ERROR', T0 + 2), ['CANCEL', 'ABORT']],
    ];
    it.each(origins)('from %s', (_name, origin, types) => {
      for (const type of types) {
        const before = origin();
        const after = send(before, type, T0 + 10 * MIN);
        expect(TERMINAL_STATUSES).toContain(after.value);
        expect(deadlines(after.context), `${before.value} --${type}--> ${after.value}`).toEqual(NONE);
      }
    });
  });
});

/**
 * A timeline driven by xstate's SimulatedClock. The harness plays the part of actors/execution.actor.ts: after
 * each applied transition it arms one timer on the clock from the deadline the machine keeps (DUE at scheduledAt,
 * TIMEOUT at the queue/run/pause deadline, START at retryAt) and clears the previous one.
 */
describe('a simulated timeline (SimulatedClock)', () => {
  function harness(i: Omit<ExecutionMachineInput, 'at'>, clock: SimulatedClock) {
    const log: TransitionRecord[] = [];
    let timer: number | null = null;
    const input = { ...i, at: clock.now() };
    const machine = executionMachine.provide({
      actions: { emitTransition: ({ context }) => void log.push(context.last) },
    });
    const actor = createActor(machine, {
      clock,
      snapshot: machine.resolveState({ value: initialStatus(input), context: createContext(input) }),
      input,
    });
    const send = (type: EventType, extra: Partial<ExecutionEvent> = {}) =>
      actor.send({ type, at: clock.now(), actor: 'timer', random: 0, ...extra });
    const arm = () => {
      if (timer !== null) clock.clearTimeout(timer);
      timer = null;
      const { value, context: c } = actor.getSnapshot();
      const plan: Partial<Record<Status, [number | null, EventType]>> = {
        SCHEDULED: [c.scheduledAt, 'DUE'],
        PENDING: [c.queueDeadlineAt, 'TIMEOUT'],
        RUNNING: [c.runDeadlineAt, 'TIMEOUT'],
        PAUSED: [c.pauseDeadlineAt, 'TIMEOUT'],
        RETRYING: [c.retryAt, 'START'],
      };
      const [when, type] = plan[value] ?? [null, 'DUE'];
      if (when !== null) timer = clock.setTimeout(() => send(type), when - clock.now());
    };
    actor.subscribe(arm);
    actor.start();
    arm();
    return { actor, log, send };
  }

  it('create → DUE → START → run deadline → RETRYING → START attempt 2 → PAUSE/RESUME → PASS', () => {
    const clock = new SimulatedClock();
    clock.set(T0);
    const retry: RetryPolicy = { ...POLICY, jitter: 0.5, retryOn: ['TIMEOUT'] };
    const { actor, log, send } = harness(
      { id: 'timeline', actor: 'api', retry, timeoutMs: 60_000, queueTimeoutMs: 5 * MIN, scheduledAt: T0 + 10_000 },
      clock,
    );
    expect(actor.getSnapshot().value).toBe('SCHEDULED');

    clock.increment(9_999);
    expect(actor.getSnapshot().value).toBe('SCHEDULED');
    clock.increment(1);
    expect(actor.getSnapshot().value).toBe('PENDING');
    expect(actor.getSnapshot().context.queueDeadlineAt).toBe(T0 + 10_000 + 5 * MIN);

    clock.increment(2_000); // a worker picks it up
    send('START', { actor: 'worker:1' });
    const tStart = T0 + 12_000;
    expect(actor.getSnapshot().context.runDeadlineAt).toBe(tStart + 60_000);

    clock.increment(59_999);
    expect(actor.getSnapshot().value).toBe('RUNNING');
    clock.increment(1); // run deadline passes; TIMEOUT is retryable here
    const tTimeout = tStart + 60_000;
    expect(actor.getSnapshot().value).toBe('RETRYING');
    const retryAt = tTimeout + backoffDelay(retry, 1, 0);
    expect(actor.getSnapshot().context.retryAt).toBe(retryAt);
    expect(retryAt - tTimeout).toBe(2_000);

    clock.set(retryAt); // backoff waited out: START of attempt 2
    expect(actor.getSnapshot().value).toBe('RUNNING');
    expect(actor.getSnapshot().context.attempt).toBe(2);
    expect(actor.getSnapshot().context.runDeadlineAt).toBe(retryAt + 60_000);

    clock.increment(15_000);
    send('PAUSE', { actor: 'user:alice' });
    expect(actor.getSnapshot().context.remainingRunMs).toBe(45_000);
    // No pauseTimeoutMs: the pause deadline falls back to timeoutMs (60 s).
    clock.increment(59_999);
    expect(actor.getSnapshot().value).toBe('PAUSED');
    clock.increment(1);
    expect(actor.getSnapshot().value).toBe('TIMEOUT');

    expect(log.map((r) => [r.seq, r.from, r.to, r.event, r.at, r.attempt])).toEqual([
      [2, 'SCHEDULED', 'PENDING', 'DUE', T0 + 10_000, 1],
      [3, 'PENDING', 'RUNNING', 'START', tStart, 1],
      [4, 'RUNNING', 'RETRYING', 'TIMEOUT', tTimeout, 1],
      [5, 'RETRYING', 'RUNNING', 'START', retryAt, 2],
      [6, 'RUNNING', 'PAUSED', 'PAUSE', retryAt + 15_000, 2],
      [7, 'PAUSED', 'TIMEOUT', 'TIMEOUT', retryAt + 15_000 + 60_000, 2],
    ]);
    expect(log.map((r) => r.actor)).toEqual(['timer', 'worker:1', 'timer', 'timer', 'user:alice', 'timer']);
    expect(deadlines(actor.getSnapshot().context)).toEqual(NONE);
    actor.stop();
  });

  it('PAUSE/RESUME in a simulated timeline keeps the run budget: the run deadline moves by the pause length', () => {
    const clock = new SimulatedClock();
    clock.set(T0);
    const { actor, log, send } = harness(
      { id: 'paused', actor: 'api', retry: { ...POLICY, retryOn: [] }, timeoutMs: 60_000, pauseTimeoutMs: 10 * MIN },
      clock,
    );
    send('START', { actor: 'worker:1' });
    clock.increment(20_000);
    send('PAUSE', { actor: 'tester' });
    clock.increment(5 * MIN);
    send('RESUME', { actor: 'tester' });
    expect(actor.getSnapshot().context.runDeadlineAt).toBe(T0 + 20_000 + 5 * MIN + 40_000);
    clock.increment(39_999);
    expect(actor.getSnapshot().value).toBe('RUNNING');
    clock.increment(1);
    // retryOn is empty: the run deadline ends it in TIMEOUT, not RETRYING.
    expect(actor.getSnapshot().value).toBe('TIMEOUT');
    expect(log.map((r) => r.to)).toEqual(['RUNNING', 'PAUSED', 'RUNNING', 'TIMEOUT']);
    expect(log.at(-1)!.at).toBe(T0 + 20_000 + 5 * MIN + 40_000);
    actor.stop();
  });

  it('a queue deadline ends a PENDING execution in TIMEOUT without any attempt', () => {
    const clock = new SimulatedClock();
    clock.set(T0);
    const { actor, log } = harness(
      { id: 'queued', actor: 'api', retry: POLICY, timeoutMs: 60_000, queueTimeoutMs: 30_000 },
      clock,
    );
    clock.increment(30_000);
    expect(actor.getSnapshot().value).toBe('TIMEOUT');
    expect(log).toEqual([
      { seq: 2, from: 'PENDING', to: 'TIMEOUT', event: 'TIMEOUT', at: T0 + 30_000, attempt: 1, reason: null, actor: 'timer' },
    ]);
    actor.stop();
  });
});
