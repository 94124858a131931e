import { fromTransition, type ActorRefFrom, type AnyActorRef } from 'xstate';
import type { Clock } from '../src/core/clock.js';
import { hasFreeSlot, mayAcquire, type GovernorRef, type GovernorState } from './governor.actor.js';
import { PriorityQueue, type QueueEntry } from './priority-queue.js';

/**
 * The scheduler: holds executions waiting to start (PENDING, or RETRYING past their backoff) in priority
 * order and starts the next one whenever the resource governor has a slot its owner and run may take.
 * Starting means sending START to the execution actor (systemId `execution:<id>`).
 */
export interface SchedulerState {
  queue: PriorityQueue;
  pumpQueued: boolean;
}

/** One change of the waiting line: an execution enters it or leaves it without starting. */
export type QueueChange = { add: QueueEntry } | { remove: string };

export type SchedulerEvent =
  /** The changes of one tick, in the order they happened. */
  | { type: 'queue'; changes: readonly QueueChange[] }
  /** Capacity may have freed: try to start waiting work (coalesced). */
  | { type: 'wake' }
  | { type: 'pump' };

export interface SchedulerInput {
  clock: Clock;
  agingMs: number;
}

export const executionSystemId = (executionId: string): string => `execution:${executionId}`;

export function createSchedulerLogic(input: SchedulerInput) {
  return fromTransition(
    (state: SchedulerState, event: SchedulerEvent, { system, self }): SchedulerState => {
      switch (event.type) {
        case 'queue': {
          let added = false;
          for (const change of event.changes) {
            if ('add' in change) {
              state.queue.add(change.add);
              added = true;
            } else {
              state.queue.remove(change.remove);
            }
          }
          if (!added) return state;
          break;
        }
        case 'wake':
          break;
        case 'pump':
          state.pumpQueued = false;
          pump(state.queue, system.get('governor') as GovernorRef, system, input.clock);
          return state;
      }
      // Coalesce: many enqueues in one tick cost one pump.
      if (!state.pumpQueued) {
        state.pumpQueued = true;
        queueMicrotask(() => self.send({ type: 'pump' }));
      }
      return state;
    },
    { queue: new PriorityQueue(input.agingMs), pumpQueued: false },
  );
}

function pump(
  queue: PriorityQueue,
  governor: GovernorRef,
  system: { get(id: string): AnyActorRef | undefined },
  clock: Clock,
): void {
  const gov: GovernorState = governor.getSnapshot().context;
  if (queue.size === 0 || !hasFreeSlot(gov)) return;
  // Owners waiting or running. Fixed for the whole pump: an owner picked here holds a slot from then on.
  const contenders = new Set<string>(queue.owners());
  for (const owner of gov.byOwner.keys()) contenders.add(owner);
  const eligible = (owner: string, runId: string | null) => mayAcquire(gov, owner, runId, contenders.size);
  while (queue.size > 0 && hasFreeSlot(gov)) {
    const entry = queue.pick(clock.now(), eligible);
    if (!entry) return;
    const execution = system.get(executionSystemId(entry.executionId));
    if (!execution) continue;
    // The slot is taken first: entering RUNNING dispatches the job at once. START is sent without a `can` probe
    // (which would compute the transition twice); when the machine does not take it, the slot goes back.
    governor.send({ type: 'acquire', executionId: entry.executionId, owner: entry.owner, runId: entry.runId });
    const seq = sequenceOf(execution);
    execution.send({ type: 'START', at: clock.now(), actor: 'scheduler' });
    if (sequenceOf(execution) === seq) governor.send({ type: 'release', executionIds: [entry.executionId] });
  }
}

/** The sequence number of an execution actor's last applied transition. */
function sequenceOf(execution: AnyActorRef): number | undefined {
  return (execution.getSnapshot() as { context?: { seq?: number } }).context?.seq;
}

export type SchedulerRef = ActorRefFrom<ReturnType<typeof createSchedulerLogic>>;
