import { describe, expect, expectTypeOf, it } from 'vitest';
import type { EventFromLogic, SnapshotFrom, StateValueFrom } from 'xstate';
import {
  executionMachine,
  type ExecutionEvent,
  type ExecutionMachineContext,
  type TransitionRecord,
} from '../../machines/execution.machine.js';
import {
  EVENT_TYPES,
  STATUSES,
  TERMINAL_STATUSES,
  type EventType,
  type Status,
  type TerminalStatus,
} from '../../src/core/statuses.js';

/*
 * The type assertions are checked by `tsc --noEmit` (part of `npm test`); the runtime assertions beside them
 * make the same claims fail under `vitest run` alone.
 */
describe('types: the machine and the status list agree', () => {
  it("the machine's state value type is exactly the Status union", () => {
    expectTypeOf<SnapshotFrom<typeof executionMachine>['value']>().toEqualTypeOf<Status>();
    expectTypeOf<StateValueFrom<typeof executionMachine>>().toEqualTypeOf<Status>();
    expect(new Set(Object.keys(executionMachine.states))).toEqual(new Set(STATUSES));
  });

  it("the machine's events are exactly the lifecycle event types", () => {
    expectTypeOf<EventFromLogic<typeof executionMachine>['type']>().toEqualTypeOf<EventType>();
    expectTypeOf<ExecutionEvent['type']>().toEqualTypeOf<EventType>();
    const handled = new Set(Object.values(executionMachine.states).flatMap((node) => Object.keys(node.on)));
    expect(handled).toEqual(new Set(EVENT_TYPES));
  });

  it('transition records speak in statuses and event types', () => {
    expectTypeOf<TransitionRecord['to']>().toEqualTypeOf<Status>();
    expectTypeOf<TransitionRecord['from']>().toEqualTypeOf<Status | null>();
    expectTypeOf<TransitionRecord['event']>().toEqualTypeOf<EventType | 'CREATE'>();
    expectTypeOf<SnapshotFrom<typeof executionMachine>['context']>().toEqualTypeOf<ExecutionMachineContext>();
  });

  it('STATUSES has 12 members, TERMINAL_STATUSES 7, EVENT_TYPES 11', () => {
    expectTypeOf<(typeof STATUSES)['length']>().toEqualTypeOf<12>();
    expectTypeOf<(typeof TERMINAL_STATUSES)['length']>().toEqualTypeOf<7>();
    expectTypeOf<(typeof EVENT_TYPES)['length']>().toEqualTypeOf<11>();
    expectTypeOf<Exclude<Status, TerminalStatus>>().toEqualTypeOf<
      'SCHEDULED' | 'PENDING' | 'RUNNING' | 'PAUSED' | 'RETRYING'
    >();
    expect(STATUSES).toHaveLength(12);
    expect(new Set(STATUSES).size).toBe(12);
    expect(TERMINAL_STATUSES).toHaveLength(7);
    expect(new Set(TERMINAL_STATUSES).size).toBe(7);
    expect(EVENT_TYPES).toHaveLength(11);
    expect(new Set(EVENT_TYPES).size).toBe(11);
  });

  it('rejects unknown statuses and events at compile time', () => {
    const snapshot = executionMachine.resolveState({
      value: 'PENDING',
      context: {} as ExecutionMachineContext,
    });
    expect(snapshot.matches('PENDING')).toBe(true);
    // @ts-expect-error 'QUEUED' is not a status
    expect(snapshot.matches('QUEUED')).toBe(false);
    // @ts-expect-error 'RETRY' is not a lifecycle event
    expect(snapshot.can({ type: 'RETRY', at: 0, actor: 'x' })).toBe(false);
  });
});
