import { fromTransition, type ActorRefFrom, type AnyActorRef } from 'xstate';
import type { Clock } from '../src/core/clock.js';
import { isTerminal, type RunStatus, type Status } from '../src/core/statuses.js';
import { executionSystemId } from './scheduler.actor.js';

/**
 * Supervises one run: aggregates its executions' statuses into the run's status and counts, and with
 * `failFast` stops what remains after the first execution that did not pass. Found as `run:<id>`.
 */
export interface RunSupervisorState {
  status: RunStatus;
  members: Map<string, Status>;
  counts: Partial<Record<Status, number>>;
  terminal: number;
  cancelRequested: boolean;
  failFastFired: boolean;
}

export type RunSupervisorEvent =
  /** Members' new statuses, in the order they changed (one tick's worth). */
  | { type: 'members'; changes: readonly (readonly [executionId: string, status: Status])[] }
  | { type: 'cancel'; actor: string; reason: string }
  /** After a restart: apply failFast to failures recorded before the crash. */
  | { type: 'reconcile' };

export interface RunSupervisorInput {
  runId: string;
  failFast: boolean;
  status: RunStatus;
  members: [string, Status][];
  clock: Clock;
  onStatus(runId: string, status: RunStatus): void;
}

export const runSystemId = (runId: string): string => `run:${runId}`;

export const NOT_PASSING: ReadonlySet<Status> = new Set<Status>(['FAILED', 'ERROR', 'TIMEOUT', 'ABORTED', 'CANCELLED']);

/** The run status its members' statuses add up to. */
export function aggregateRunStatus(state: Omit<RunSupervisorState, 'status'>, total: number): RunStatus {
  if (state.terminal < total) {
    const waiting = (state.counts.PENDING ?? 0) + (state.counts.SCHEDULED ?? 0);
    return waiting === total ? 'PENDING' : 'RUNNING';
  }
  if (state.cancelRequested) return 'CANCELLED';
  for (const status of NOT_PASSING) if ((state.counts[status] ?? 0) > 0) return 'FAILED';
  return 'PASSED';
}

export function createRunSupervisorLogic(input: RunSupervisorInput) {
  const initial: RunSupervisorState = {
    status: input.status,
    members: new Map(input.members),
    counts: {},
    terminal: 0,
    cancelRequested: false,
    failFastFired: false,
  };
  for (const status of initial.members.values()) count(initial, status, 1);

  const stopRest = (system: { get(id: string): AnyActorRef | undefined }, state: RunSupervisorState, reason: string, actor: string) => {
    for (const [executionId, status] of state.members) {
      if (isTerminal(status)) continue;
      const type = state.cancelRequested || !(status === 'SCHEDULED' || status === 'PENDING') ? 'CANCEL' : 'SKIP';
      system.get(executionSystemId(executionId))?.send({ type, at: input.clock.now(), actor, reason });
    }
  };

  return fromTransition(
    (state: RunSupervisorState, event: RunSupervisorEvent, { system }): RunSupervisorState => {
      if (event.type === 'cancel') {
        if (state.status === 'PASSED' || state.status === 'FAILED' || state.status === 'CANCELLED') return state;
        state.cancelRequested = true;
        stopRest(system, state, event.reason, event.actor);
      } else if (event.type === 'reconcile') {
        if (input.failFast && !state.failFastFired && !state.cancelRequested) {
          const failed = [...state.members].find(([, status]) => NOT_PASSING.has(status));
          if (failed) {
            state.failFastFired = true;
            stopRest(system, state, `failFast: ${failed[0]} ended ${failed[1]}`, 'run-supervisor');
          }
        }
      } else {
        for (const [executionId, status] of event.changes) {
          const previous = state.members.get(executionId);
          if (previous === undefined || previous === status) continue;
          count(state, previous, -1);
          count(state, status, 1);
          state.members.set(executionId, status);
          if (input.failFast && !state.failFastFired && NOT_PASSING.has(status) && !state.cancelRequested) {
            state.failFastFired = true;
            stopRest(system, state, `failFast: ${executionId} ended ${status}`, 'run-supervisor');
          }
        }
      }
      const next = aggregateRunStatus(state, state.members.size);
      if (next !== state.status) {
        state.status = next;
        input.onStatus(input.runId, next);
      }
      return state;
    },
    initial,
  );
}

function count(state: RunSupervisorState, status: Status, by: number): void {
  state.counts[status] = (state.counts[status] ?? 0) + by;
  if (isTerminal(status)) state.terminal += by;
}

export type RunSupervisorRef = ActorRefFrom<ReturnType<typeof createRunSupervisorLogic>>;
