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

export type SchedulerEvent =
  | { type: 'enqueue'; entry: QueueEntry }
  | { type: 'remove'; executionId: string }
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
        case 'enqueue':
          state.queue.add(event.entry);
          break;
        case 'remove':
          state.queue.remove(event.executionId);
          return state;
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
  while (queue.size > 0 && hasFreeSlot(gov)) {
    const contenders = new Set<string>(queue.owners());
    for (const owner of gov.byOwner.keys()) contenders.add(owner);
    const entry = queue.pick(clock.now(), (owner: string, runId: string | null) =>
      mayAcquire(gov, owner, runId, contenders.size),
    );
    if (!entry) return;
    const execution = system.get(executionSystemId(entry.executionId));
    const start = { type: 'START' as const, at: clock.now(), actor: 'scheduler' };
    if (!execution || !(execution.getSnapshot() as { can(e: unknown): boolean }).can(start)) continue;
    governor.send({ type: 'acquire', executionId: entry.executionId, owner: entry.owner, runId: entry.runId });
    execution.send(start);
  }
}

export type SchedulerRef = ActorRefFrom<ReturnType<typeof createSchedulerLogic>>;
