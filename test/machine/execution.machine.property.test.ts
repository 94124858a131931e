import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createActor, transition, type SnapshotFrom } from 'xstate';
import {
  createContext,
  executionMachine,
  initialStatus,
  type ExecutionEvent,
  type ExecutionMachineInput,
  type TransitionRecord,
} from '../../machines/execution.machine.js';
import type { RetryPolicy } from '../../machines/retry-policy.js';
import {
  EVENT_TYPES,
  RETRYABLE_OUTCOMES,
  isTerminal,
  type EventType,
  type RetryableOutcome,
  type Status,
} from '../../src/core/statuses.js';

/** SPEC §3 as an oracle, independent of the machine. Guarded rows: see `expectedTarget`. */
const TABLE: Readonly<Record<Status, Partial<Record<EventType, Status>>>> = {
  SCHEDULED: { DUE: 'PENDING', CANCEL: 'CANCELLED', SKIP: 'SKIPPED', ABORT: 'ABORTED' },
  PENDING: { START: 'RUNNING', CANCEL: 'CANCELLED', SKIP: 'SKIPPED', TIMEOUT: 'TIMEOUT', ABORT: 'ABORTED' },
  RUNNING: {
    PASS: 'PASSED',
    FAIL: 'FAILED',
    ERROR: 'ERROR',
    TIMEOUT: 'TIMEOUT',
    SKIP: 'SKIPPED',
    PAUSE: 'PAUSED',
    CANCEL: 'CANCELLED',
    ABORT: 'ABORTED',
  },
  PAUSED: { RESUME: 'RUNNING', CANCEL: 'CANCELLED', TIMEOUT: 'TIMEOUT', ABORT: 'ABORTED' },
  RETRYING: { START: 'RUNNING', CANCEL: 'CANCELLED', ABORT: 'ABORTED' },
  PASSED: {},
  FAILED: {},
  SKIPPED: {},
  CANCELLED: {},
  TIMEOUT: {},
  ERROR: {},
  ABORTED: {},
};
const OUTCOME_OF: Partial<Record<EventType, RetryableOutcome>> = { FAIL: 'FAILED', ERROR: 'ERROR', TIMEOUT: 'TIMEOUT' };
const LEGAL_PAIRS = new Set([
  ...Object.entries(TABLE).flatMap(([from, row]) => Object.values(row).map((to) => `${from}->${to}`)),
  'RUNNING->RETRYING',
]);

type Snap = SnapshotFrom<typeof executionMachine>;

function expectedTarget(snap: Snap, event: ExecutionEvent): Status | undefined {
  const to = TABLE[snap.value][event.type];
  const outcome = OUTCOME_OF[event.type];
  if (to === undefined || snap.value !== 'RUNNING' || outcome === undefined) return to;
  const { attempt, retry } = snap.context;
  const covered = event.retryable !== false && attempt < retry.maxAttempts && retry.retryOn.includes(outcome);
  return covered ? 'RETRYING' : to;
}

const policyArb: fc.Arbitrary<RetryPolicy> = fc.record({
  maxAttempts: fc.integer({ min: 1, max: 4 }),
  delayMs: fc.integer({ min: 0, max: 10_000 }),
  backoff: fc.constantFrom('fixed' as const, 'exponential' as const),
  maxDelayMs: fc.integer({ min: 0, max: 60_000 }),
  jitter: fc.double({ min: 0, max: 1, noNaN: true }),
  retryOn: fc.subarray([...RETRYABLE_OUTCOMES]),
});

const inputArb: fc.Arbitrary<ExecutionMachineInput> = fc
  .record({
    at: fc.integer({ min: 0, max: 2_000_000_000_000 }),
    retry: policyArb,
    timeoutMs: fc.integer({ min: 1, max: 3_600_000 }),
    queueTimeoutMs: fc.option(fc.integer({ min: 1, max: 3_600_000 })),
    pauseTimeoutMs: fc.option(fc.integer({ min: 1, max: 3_600_000 })),
    // Roughly half start SCHEDULED, half PENDING.
    scheduleInMs: fc.option(fc.integer({ min: -60_000, max: 60_000 })),
  })
  .map(({ scheduleInMs, ...rest }) => ({
    id: 'prop',
    actor: 'creator',
    ...rest,
    scheduledAt: scheduleInMs === null ? null : rest.at + scheduleInMs,
  }));

/**
 * One step: either any event type at all (mostly illegal), or a legal one for whatever status the execution is in
 * by then (`pick` indexes the legal events), so that sequences get deep into the lifecycle.
 */
const stepArb = fc.record({
  legal: fc.boolean(),
  type: fc.constantFrom(...EVENT_TYPES),
  pick: fc.nat(),
  dt: fc.integer({ min: 1, max: 120_000 }),
  random: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
  retryable: fc.option(fc.boolean(), { nil: undefined }),
  reason: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
});
type Step = typeof stepArb extends fc.Arbitrary<infer T> ? T : never;

function eventFor(snap: Snap, step: Step, at: number): ExecutionEvent {
  const legal = Object.keys(TABLE[snap.value]) as EventType[];
  const type = step.legal && legal.length > 0 ? legal[step.pick % legal.length]! : step.type;
  return {
    type,
    at,
    actor: `actor-${step.pick % 5}`,
    random: step.random,
    ...(step.retryable === undefined ? {} : { retryable: step.retryable }),
    ...(step.reason === undefined ? {} : { reason: step.reason }),
  };
}

describe('random event sequences (fast-check)', () => {
  it('keep seq contiguous, apply only legal pairs, count attempts, absorb after terminal, retry only when covered', () => {
    fc.assert(
      fc.property(inputArb, fc.array(stepArb, { maxLength: 60 }), (inp, steps) => {
        let snap = executionMachine.resolveState({ value: initialStatus(inp), context: createContext(inp) });
        expect(['SCHEDULED', 'PENDING']).toContain(snap.value);

        const emitted: TransitionRecord[] = [];
        const machine = executionMachine.provide({
          actions: { emitTransition: ({ context }) => void emitted.push(context.last) },
        });
        const actor = createActor(machine, {
          snapshot: machine.resolveState({ value: snap.value, context: snap.context }),
          input: inp,
        });
        actor.start();

        const records: TransitionRecord[] = [snap.context.last];
        let terminalAt: Snap | null = null;
        let at = inp.at;
        for (const step of steps) {
          at += step.dt;
          const event = eventFor(snap, step, at);
          const expected = expectedTarget(snap, event);
          expect(snap.can(event)).toBe(expected !== undefined);
          const [next] = transition(executionMachine, snap, event);

          if (expected === undefined) {
            expect(next.value).toBe(snap.value);
            expect(next.context).toEqual(snap.context);
          } else {
            expect(next.value).toBe(expected);
            expect(next.context.seq).toBe(snap.context.seq + 1);
            expect(LEGAL_PAIRS.has(`${snap.value}->${next.value}`)).toBe(true);
            const startsNextAttempt = snap.value === 'RETRYING' && event.type === 'START';
            expect(next.context.attempt).toBe(snap.context.attempt + (startsNextAttempt ? 1 : 0));
            expect(next.context.attempt).toBeLessThanOrEqual(Math.max(1, inp.retry.maxAttempts));
            if (next.value === 'RETRYING') {
              expect(snap.value).toBe('RUNNING');
              expect(snap.context.attempt).toBeLessThan(inp.retry.maxAttempts);
              expect(inp.retry.retryOn).toContain(OUTCOME_OF[event.type]);
              expect(event.retryable).not.toBe(false);
            }
            expect(next.context.last).toEqual({
              seq: next.context.seq,
              from: snap.value,
              to: next.value,
              event: event.type,
              at,
              attempt: next.context.attempt,
              reason: event.reason ?? null,
              actor: event.actor,
            });
            records.push(next.context.last);
          }
          if (terminalAt) {
            expect(next.value).toBe(terminalAt.value);
            expect(next.context).toEqual(terminalAt.context);
          } else if (isTerminal(next.value)) {
            terminalAt = next;
          }

          if (!isTerminal(snap.value)) actor.send(event);
          snap = next;
        }

        // The actor (what the engine runs) agrees with the pure fold, and its effect hook saw every record once.
        expect(actor.getSnapshot().value).toBe(snap.value);
        expect(actor.getSnapshot().context).toEqual(snap.context);
        expect(emitted).toEqual(records.slice(1));
        actor.stop();

        // The published history: seq 1..n without gaps, each transition starting where the last one ended.
        expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => i + 1));
        expect(records[0]!.from).toBeNull();
        for (let i = 1; i < records.length; i++) {
          expect(records[i]!.from).toBe(records[i - 1]!.to);
          expect(records[i]!.at).toBeGreaterThan(records[i - 1]!.at);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('terminal deadlines are cleared and live ones are absolute times after the event', () => {
    fc.assert(
      fc.property(inputArb, fc.array(stepArb, { maxLength: 40 }), (inp, steps) => {
        let snap = executionMachine.resolveState({ value: initialStatus(inp), context: createContext(inp) });
        let at = inp.at;
        for (const step of steps) {
          at += step.dt;
          [snap] = transition(executionMachine, snap, eventFor(snap, step, at));
          const c = snap.context;
          const deadlines = {
            runDeadlineAt: c.runDeadlineAt,
            queueDeadlineAt: c.queueDeadlineAt,
            pauseDeadlineAt: c.pauseDeadlineAt,
            retryAt: c.retryAt,
          };
          const armed = Object.entries(deadlines).filter(([, v]) => v !== null).map(([k]) => k);
          // Exactly the deadline the status waits on is armed.
          const expectedArmed: Record<Status, string[]> = {
            SCHEDULED: [],
            PENDING: inp.queueTimeoutMs == null ? [] : ['queueDeadlineAt'],
            RUNNING: ['runDeadlineAt'],
            PAUSED: ['pauseDeadlineAt'],
            RETRYING: ['retryAt'],
            PASSED: [],
            FAILED: [],
            SKIPPED: [],
            CANCELLED: [],
            TIMEOUT: [],
            ERROR: [],
            ABORTED: [],
          };
          expect(armed).toEqual(expectedArmed[snap.value]);
          for (const v of Object.values(deadlines)) if (v !== null) expect(v).toBeGreaterThanOrEqual(c.last.at);
          expect(c.remainingRunMs === null).toBe(snap.value !== 'PAUSED');
          if (isTerminal(snap.value)) expect(c.scheduledAt).toBeNull();
        }
      }),
      { numRuns: 300 },
    );
  });
});
