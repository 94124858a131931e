import { afterEach, describe, expect, it, vi } from 'vitest';
import { createActor, transition, type SnapshotFrom } from 'xstate';
import { adjacencyMapToArray, getAdjacencyMap, getShortestPaths } from 'xstate/graph';
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
  STATUSES,
  TERMINAL_STATUSES,
  type EventType,
  type RetryableOutcome,
  type Status,
} from '../../src/core/statuses.js';

/**
 * The lifecycle table of SPEC §3, written out independently of the machine: (from, event, to).
 * RUNNING's FAIL/ERROR/TIMEOUT appear twice (RETRYING or the outcome), hence 27 rows for 25 status pairs.
 */
const LEGAL: ReadonlyArray<readonly [Status, EventType, Status]> = [
  ['SCHEDULED', 'DUE', 'PENDING'],
  ['SCHEDULED', 'CANCEL', 'CANCELLED'],
  ['SCHEDULED', 'SKIP', 'SKIPPED'],
  ['SCHEDULED', 'ABORT', 'ABORTED'],
  ['PENDING', 'START', 'RUNNING'],
  ['PENDING', 'CANCEL', 'CANCELLED'],
  ['PENDING', 'SKIP', 'SKIPPED'],
  ['PENDING', 'TIMEOUT', 'TIMEOUT'],
  ['PENDING', 'ABORT', 'ABORTED'],
  ['RUNNING', 'PASS', 'PASSED'],
  ['RUNNING', 'FAIL', 'RETRYING'],
  ['RUNNING', 'FAIL', 'FAILED'],
  ['RUNNING', 'ERROR', 'RETRYING'],
  ['RUNNING', 'ERROR', 'ERROR'],
  ['RUNNING', 'TIMEOUT', 'RETRYING'],
  ['RUNNING', 'TIMEOUT', 'TIMEOUT'],
  ['RUNNING', 'SKIP', 'SKIPPED'],
  ['RUNNING', 'PAUSE', 'PAUSED'],
  ['RUNNING', 'CANCEL', 'CANCELLED'],
  ['RUNNING', 'ABORT', 'ABORTED'],
  ['PAUSED', 'RESUME', 'RUNNING'],
  ['PAUSED', 'CANCEL', 'CANCELLED'],
  ['PAUSED', 'TIMEOUT', 'TIMEOUT'],
  ['PAUSED', 'ABORT', 'ABORTED'],
  ['RETRYING', 'START', 'RUNNING'],
  ['RETRYING', 'CANCEL', 'CANCELLED'],
  ['RETRYING', 'ABORT', 'ABORTED'],
];
const OUTCOME_OF: Partial<Record<EventType, RetryableOutcome>> = { FAIL: 'FAILED', ERROR: 'ERROR', TIMEOUT: 'TIMEOUT' };

const triple = (from: Status, type: EventType, to: Status): string => `${from} -${type}-> ${to}`;
const pair = (from: Status, to: Status): string => `${from} -> ${to}`;
const legalEvents = (status: Status): EventType[] => [
  ...new Set(LEGAL.filter(([from]) => from === status).map(([, type]) => type)),
];

type Snap = SnapshotFrom<typeof executionMachine>;

const POLICY: RetryPolicy = {
  maxAttempts: 3,
  delayMs: 1_000,
  backoff: 'exponential',
  maxDelayMs: 60_000,
  jitter: 0,
  retryOn: ['FAILED', 'ERROR', 'TIMEOUT'],
};
const T0 = 1_700_000_000_000;

function input(overrides: Partial<ExecutionMachineInput> = {}): ExecutionMachineInput {
  return { id: 'exec-1', at: T0, actor: 'user:alice', retry: POLICY, timeoutMs: 30_000, ...overrides };
}

/** A new execution as the engine creates it: the creation context in the status `initialStatus` picks. */
function created(overrides: Partial<ExecutionMachineInput> = {}): Snap {
  const i = input(overrides);
  return executionMachine.resolveState({ value: initialStatus(i), context: createContext(i) });
}

let clockMs = T0;
function ev(type: EventType, extra: Partial<Omit<ExecutionEvent, 'type'>> = {}): ExecutionEvent {
  clockMs += 1_000;
  return { type, at: clockMs, actor: 'engine', ...extra };
}

function drive(snap: Snap, types: readonly EventType[]): Snap {
  let s = snap;
  for (const type of types) {
    const [next] = transition(executionMachine, s, ev(type));
    expect(next.context.seq, `${type} from ${s.value} must apply`).toBe(s.context.seq + 1);
    s = next;
  }
  return s;
}

/** A snapshot in `status`, reached from creation through legal events only (realistic context). */
function reach(status: Status, policy: RetryPolicy = POLICY): Snap {
  const paths: Record<Status, { scheduled?: boolean; events: EventType[] }> = {
    SCHEDULED: { scheduled: true, events: [] },
    PENDING: { events: [] },
    RUNNING: { events: ['START'] },
    PAUSED: { events: ['START', 'PAUSE'] },
    RETRYING: { events: ['START', 'ERROR'] },
    PASSED: { events: ['START', 'PASS'] },
    FAILED: { events: ['START', 'FAIL', 'START', 'FAIL', 'START', 'FAIL'] },
    SKIPPED: { scheduled: true, events: ['SKIP'] },
    CANCELLED: { events: ['START', 'PAUSE', 'CANCEL'] },
    TIMEOUT: { events: ['START', 'TIMEOUT', 'START', 'TIMEOUT', 'START', 'TIMEOUT'] },
    ERROR: { events: ['START', 'ERROR', 'START', 'ERROR', 'START', 'ERROR'] },
    ABORTED: { events: ['START', 'ERROR', 'ABORT'] },
  };
  const path = paths[status];
  const start = created({
    retry: policy,
    queueTimeoutMs: 600_000,
    ...(path.scheduled ? { scheduledAt: T0 + 3_600_000 } : {}),
  });
  const s = drive(start, path.events);
  expect(s.value).toBe(status);
  return s;
}

/** RUNNING in the last allowed attempt: no retry is left. */
function runningLastAttempt(): Snap {
  const s = drive(created(), ['START', 'FAIL', 'START', 'ERROR', 'START']);
  expect(s.value).toBe('RUNNING');
  expect(s.context.attempt).toBe(POLICY.maxAttempts);
  return s;
}

function restore(snap: Snap, emitted: TransitionRecord[]) {
  const machine = executionMachine.provide({
    actions: { emitTransition: ({ context }) => void emitted.push(context.last) },
  });
  const actor = createActor(machine, {
    snapshot: machine.resolveState({ value: snap.value, context: snap.context }),
    input: input(),
  });
  actor.start();
  return actor;
}

function expectApplied(before: Snap, event: ExecutionEvent, after: Snap, to: Status): void {
  const from = before.value;
  const attempt = before.context.attempt + (from === 'RETRYING' && to === 'RUNNING' ? 1 : 0);
  expect(after.value).toBe(to);
  expect(after.context.seq).toBe(before.context.seq + 1);
  expect(after.context.attempt).toBe(attempt);
  expect(after.context.last).toEqual({
    seq: before.context.seq + 1,
    from,
    to,
    event: event.type,
    at: event.at,
    attempt,
    reason: event.reason ?? null,
    actor: event.actor,
  });
  // What the execution is, as opposed to where it is, never changes.
  for (const key of ['id', 'retry', 'timeoutMs', 'queueTimeoutMs', 'pauseTimeoutMs'] as const) {
    expect(after.context[key]).toEqual(before.context[key]);
  }
}

/** Applies one event both through the pure `transition` and through a restored actor, and checks both. */
function applyBothWays(before: Snap, event: ExecutionEvent, to: Status): void {
  expect(before.can(event)).toBe(true);
  const [next, actions] = transition(executionMachine, before, event);
  expectApplied(before, event, next, to);
  expect(actions.map((a) => a.type)).toEqual(['emitTransition']);

  const emitted: TransitionRecord[] = [];
  const actor = restore(before, emitted);
  actor.send(event);
  const viaActor = actor.getSnapshot();
  expectApplied(before, event, viaActor, to);
  expect(viaActor.context).toEqual(next.context);
  // The effect hook sees the new record exactly once (the actor persists and publishes it from there).
  expect(emitted).toEqual([next.context.last]);
  actor.stop();
}

function expectRejected(before: Snap, event: ExecutionEvent): void {
  expect(before.can(event)).toBe(false);
  const [next, actions] = transition(executionMachine, before, event);
  expect(next.value).toBe(before.value);
  expect(next.context).toEqual(before.context);
  expect(actions).toEqual([]);

  const emitted: TransitionRecord[] = [];
  const actor = restore(before, emitted);
  actor.send(event);
  expect(actor.getSnapshot().value).toBe(before.value);
  expect(actor.getSnapshot().context).toEqual(before.context);
  expect(emitted).toEqual([]);
  actor.stop();
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the lifecycle table', () => {
  it('has 27 rows covering exactly the 25 legal status pairs of SPEC §3', () => {
    expect(new Set(LEGAL.map(([f, e, t]) => triple(f, e, t))).size).toBe(27);
    expect(new Set(LEGAL.map(([f, , t]) => pair(f, t))).size).toBe(25);
  });

  it("equals the machine's own transitions (nothing added or removed silently)", () => {
    const fromStates = new Set<string>();
    const fromConfig = new Set<string>();
    for (const status of STATUSES) {
      const node = executionMachine.states[status];
      expect(node, `state node ${status}`).toBeDefined();
      for (const [type, defs] of Object.entries(node!.on)) {
        for (const def of defs) {
          expect(def.target, `${status}.${type} has one target`).toHaveLength(1);
          fromStates.add(triple(status, type as EventType, def.target![0]!.key as Status));
        }
      }
      const on = executionMachine.config.states?.[status]?.on ?? {};
      for (const [type, config] of Object.entries(on as Record<string, unknown>)) {
        const defs = (Array.isArray(config) ? config : [config]) as Array<{ target: string }>;
        for (const def of defs) fromConfig.add(triple(status, type as EventType, def.target as Status));
      }
    }
    const table = new Set(LEGAL.map(([f, e, t]) => triple(f, e, t)));
    expect(fromStates).toEqual(table);
    expect(fromConfig).toEqual(table);
  });

  it('has exactly the twelve statuses as states, the seven terminal ones final and without transitions', () => {
    expect(new Set(Object.keys(executionMachine.states))).toEqual(new Set(STATUSES));
    for (const status of STATUSES) {
      const node = executionMachine.states[status]!;
      const terminal = (TERMINAL_STATUSES as readonly Status[]).includes(status);
      expect(node.type, status).toBe(terminal ? 'final' : 'atomic');
      if (terminal) expect(Object.keys(node.on), status).toEqual([]);
    }
  });

  it('guards every retry branch: RETRYING is listed first, the outcome is the fallback', () => {
    for (const type of ['FAIL', 'ERROR', 'TIMEOUT'] as const) {
      const defs = executionMachine.states.RUNNING!.on[type];
      expect(defs).toBeDefined();
      expect(defs.map((d) => d.target![0]!.key)).toEqual(['RETRYING', OUTCOME_OF[type]]);
      expect(defs[0]!.guard).toBeDefined();
      expect(defs[1]!.guard).toBeUndefined();
    }
  });
});

describe('creation', () => {
  it('starts in PENDING with the creation record (seq 1, from null) when nothing is scheduled', () => {
    const s = created({ actor: 'api:alice' });
    expect(s.value).toBe('PENDING');
    expect(s.context.seq).toBe(1);
    expect(s.context.attempt).toBe(1);
    expect(s.context.last).toEqual({
      seq: 1,
      from: null,
      to: 'PENDING',
      event: 'CREATE',
      at: T0,
      attempt: 1,
      reason: null,
      actor: 'api:alice',
    });
  });

  it('starts in SCHEDULED only when scheduledAt is in the future', () => {
    expect(initialStatus({ at: T0, scheduledAt: T0 + 1 })).toBe('SCHEDULED');
    expect(initialStatus({ at: T0, scheduledAt: T0 })).toBe('PENDING');
    expect(initialStatus({ at: T0, scheduledAt: T0 - 1 })).toBe('PENDING');
    expect(initialStatus({ at: T0, scheduledAt: null })).toBe('PENDING');
    const s = created({ scheduledAt: T0 + 60_000 });
    expect(s.value).toBe('SCHEDULED');
    expect(s.context.last).toMatchObject({ seq: 1, from: null, to: 'SCHEDULED', event: 'CREATE' });
    expect(s.context.scheduledAt).toBe(T0 + 60_000);
    expect(created({ scheduledAt: T0 - 60_000 }).context.scheduledAt).toBeNull();
  });
});

describe('every legal pair is reachable and applied', () => {
  // RUNNING's FAIL/ERROR/TIMEOUT rows are covered branch by branch below.
  const plain = LEGAL.filter(([from, type]) => !(from === 'RUNNING' && OUTCOME_OF[type]));

  it.each(plain)('%s --%s--> %s', (from, type, to) => {
    const before = reach(from);
    applyBothWays(before, ev(type, { actor: `actor:${type.toLowerCase()}`, reason: `because ${type}` }), to);
  });

  it('records a missing reason as null', () => {
    const before = reach('RUNNING');
    const event = ev('PASS');
    expect(event.reason).toBeUndefined();
    applyBothWays(before, event, 'PASSED');
  });

  it('START from RETRYING begins the next attempt', () => {
    const before = reach('RETRYING');
    expect(before.context.attempt).toBe(1);
    const [next] = transition(executionMachine, before, ev('START'));
    expect(next.context.attempt).toBe(2);
    expect(next.context.last.attempt).toBe(2);
  });

  describe.each(['FAIL', 'ERROR', 'TIMEOUT'] as const)('RUNNING --%s-->', (type) => {
    const outcome = OUTCOME_OF[type]!;

    it('RETRYING while the policy covers the outcome and attempts remain', () => {
      const before = reach('RUNNING', { ...POLICY, retryOn: [outcome] });
      expect(before.context.attempt).toBeLessThan(POLICY.maxAttempts);
      applyBothWays(before, ev(type, { actor: 'worker:7', reason: 'attempt 1 went wrong', random: 0 }), 'RETRYING');
    });

    it('RETRYING in the second-to-last attempt too', () => {
      const before = drive(created(), ['START', type, 'START']);
      expect(before.context.attempt).toBe(POLICY.maxAttempts - 1);
      applyBothWays(before, ev(type, { actor: 'worker:7' }), 'RETRYING');
    });

    it(`${outcome} when no attempt is left`, () => {
      applyBothWays(runningLastAttempt(), ev(type, { actor: 'worker:7', reason: 'last attempt' }), outcome);
    });

    it(`${outcome} when the policy does not cover ${outcome}`, () => {
      const others = (['FAILED', 'ERROR', 'TIMEOUT'] as const).filter((o) => o !== outcome);
      const before = reach('RUNNING', { ...POLICY, retryOn: others });
      applyBothWays(before, ev(type, { actor: 'worker:7', reason: 'not covered' }), outcome);
    });

    it(`${outcome} when the policy allows a single attempt`, () => {
      const before = reach('RUNNING', { ...POLICY, maxAttempts: 1 });
      applyBothWays(before, ev(type, { actor: 'worker:7' }), outcome);
    });

    it(`${outcome} when the failure is marked not retryable`, () => {
      const before = reach('RUNNING');
      applyBothWays(before, ev(type, { actor: 'worker:7', retryable: false }), outcome);
      applyBothWays(before, ev(type, { actor: 'worker:7', retryable: true }), 'RETRYING');
    });
  });

  it('keeps seq contiguous over a whole life with retries, pauses and a final verdict', () => {
    const emitted: TransitionRecord[] = [];
    const start = created({ scheduledAt: T0 + 5_000 });
    const actor = restore(start, emitted);
    const types: EventType[] = ['DUE', 'START', 'ERROR', 'START', 'PAUSE', 'RESUME', 'TIMEOUT', 'START', 'FAIL'];
    for (const type of types) actor.send(ev(type));
    expect(actor.getSnapshot().value).toBe('FAILED');
    expect(emitted.map((r) => r.seq)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(emitted.map((r) => r.event)).toEqual(types);
    expect(emitted.map((r) => r.attempt)).toEqual([1, 1, 1, 2, 2, 2, 2, 3, 3]);
    // Each record starts where the previous one ended.
    const chain = [start.context.last, ...emitted];
    for (let i = 1; i < chain.length; i++) expect(chain[i]!.from).toBe(chain[i - 1]!.to);
    actor.stop();
  });
});

describe('illegal events are rejected and change nothing', () => {
  const cases = STATUSES.flatMap((status) =>
    EVENT_TYPES.filter((type) => !legalEvents(status).includes(type)).map((type) => [status, type] as const),
  );

  it('covers 12 statuses × 11 events minus the 24 legal (status, event) combinations', () => {
    expect(cases).toHaveLength(12 * 11 - 24);
  });

  it.each(cases)('%s rejects %s', (status, type) => {
    // A done actor warns on every event it is sent; that warning is expected here.
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    expectRejected(reach(status), ev(type, { actor: 'intruder', reason: 'should not apply', random: 0.3 }));
  });

  it('rejects RUNNING -> RETRYING only through the outcome branch, never by leaving RUNNING twice', () => {
    const retrying = reach('RETRYING');
    for (const type of ['FAIL', 'ERROR', 'TIMEOUT', 'PASS', 'PAUSE', 'RESUME', 'DUE', 'SKIP'] as const) {
      expectRejected(retrying, ev(type));
    }
  });
});

describe('terminal statuses absorb everything', () => {
  it.each(TERMINAL_STATUSES)('%s ignores all 11 events, one after another', (status) => {
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const before = reach(status);
    expect(before.status).toBe('done');

    let s = before;
    for (const type of EVENT_TYPES) {
      const event = ev(type, { actor: 'admin', reason: 'late event', random: 0.9 });
      expect(s.can(event), `${status} can ${type}`).toBe(false);
      [s] = transition(executionMachine, s, event);
      expect(s.value).toBe(status);
      expect(s.context).toEqual(before.context);
    }

    const emitted: TransitionRecord[] = [];
    const actor = restore(before, emitted);
    for (const type of EVENT_TYPES) actor.send(ev(type, { actor: 'admin' }));
    expect(actor.getSnapshot().status).toBe('done');
    expect(actor.getSnapshot().value).toBe(status);
    expect(actor.getSnapshot().context).toEqual(before.context);
    expect(emitted).toEqual([]);
  });
});

describe('xstate/graph', () => {
  /** Serialising by status and attempt keeps the graph finite (seq grows on every PAUSE/RESUME loop). */
  const serializeState = (s: Snap): string => `${s.value}#${s.context.attempt}`;
  const legalEventsOf = (s: Snap): ExecutionEvent[] =>
    legalEvents(s.value).map((type) => ({ type, at: T0 + 1_000 * s.context.seq, actor: 'graph' }));
  const allEventsOf = (s: Snap): ExecutionEvent[] =>
    EVENT_TYPES.map((type) => ({ type, at: T0 + 1_000 * s.context.seq, actor: 'graph' }));
  const policy: RetryPolicy = { ...POLICY, maxAttempts: 2 };

  it('reaches every one of the 12 statuses from PENDING or SCHEDULED', () => {
    const reached = new Map<Status, number>();
    for (const start of [created({ retry: policy }), created({ retry: policy, scheduledAt: T0 + 60_000 })]) {
      const paths = getShortestPaths(executionMachine, {
        fromState: start,
        events: legalEventsOf,
        serializeState,
      });
      for (const path of paths) {
        // Replaying the path's events from the start lands in the same state, one seq per step.
        let s = start;
        for (const step of path.steps.slice(1)) {
          const [next] = transition(executionMachine, s, step.event);
          expect(next.context.seq).toBe(s.context.seq + 1);
          s = next;
        }
        expect(s.value).toBe(path.state.value);
        const shortest = reached.get(path.state.value);
        if (shortest === undefined || path.steps.length < shortest) reached.set(path.state.value, path.steps.length);
      }
    }
    expect(new Set(reached.keys())).toEqual(new Set(STATUSES));
  });

  it('PENDING reaches all but SCHEDULED; SCHEDULED reaches all twelve', () => {
    const valuesFrom = (start: Snap) =>
      new Set(
        getShortestPaths(executionMachine, { fromState: start, events: legalEventsOf, serializeState }).map(
          (p) => p.state.value,
        ),
      );
    expect(valuesFrom(created({ retry: policy }))).toEqual(new Set(STATUSES.filter((s) => s !== 'SCHEDULED')));
    expect(valuesFrom(created({ retry: policy, scheduledAt: T0 + 60_000 }))).toEqual(new Set(STATUSES));
  });

  it('the full adjacency map applies exactly the 27 table rows and nothing else', () => {
    const adjacency = getAdjacencyMap(executionMachine, {
      fromState: created({ retry: policy, scheduledAt: T0 + 60_000 }),
      events: allEventsOf,
      serializeState,
    });
    const edges = adjacencyMapToArray(adjacency);
    expect(edges.length).toBeGreaterThan(27);
    const applied = new Set<string>();
    for (const { state, event, nextState: next } of edges) {
      if (next.context.seq === state.context.seq) {
        expect(next.value, `${state.value} rejected ${event.type}`).toBe(state.value);
        expect(next.context).toEqual(state.context);
      } else {
        expect(next.context.seq).toBe(state.context.seq + 1);
        applied.add(triple(state.value, event.type, next.value));
      }
    }
    expect(applied).toEqual(new Set(LEGAL.map(([f, e, t]) => triple(f, e, t))));
  });
});
