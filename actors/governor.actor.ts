import { fromTransition, type ActorRefFrom } from 'xstate';

/**
 * The resource governor: how many executions run at once, globally (EXECUTION_MAX_CONCURRENT_JOBS),
 * per owner (a fair share while several owners want capacity) and per run (`maxParallel`).
 * Slots are held from START until the execution leaves RUNNING.
 */
export interface GovernorState {
  maxConcurrent: number;
  running: number;
  holders: Map<string, { owner: string; runId: string | null }>;
  byOwner: Map<string, number>;
  byRun: Map<string, number>;
  runLimits: Map<string, number>;
}

export type GovernorEvent =
  | { type: 'acquire'; executionId: string; owner: string; runId: string | null }
  /** Slots given back, as many as left RUNNING in one tick. */
  | { type: 'release'; executionIds: readonly string[] }
  | { type: 'limitRun'; runId: string; maxParallel: number | null };

export interface GovernorInput {
  maxConcurrent: number;
  /** Called after a slot is released, so waiting work can be started. */
  onRelease: () => void;
}

function bump(map: Map<string, number>, key: string, by: number): void {
  const next = (map.get(key) ?? 0) + by;
  if (next <= 0) map.delete(key);
  else map.set(key, next);
}

/** Slots one owner may hold while `contenders` owners have work running or waiting. */
export function ownerShare(state: GovernorState, contenders: number): number {
  return contenders <= 1 ? state.maxConcurrent : Math.max(1, Math.ceil(state.maxConcurrent / contenders));
}

export function hasFreeSlot(state: GovernorState): boolean {
  return state.running < state.maxConcurrent;
}

/** Whether an execution of `owner` in `runId` may take a slot now. */
export function mayAcquire(state: GovernorState, owner: string, runId: string | null, contenders: number): boolean {
  if (state.running >= state.maxConcurrent) return false;
  if ((state.byOwner.get(owner) ?? 0) >= ownerShare(state, contenders)) return false;
  if (runId !== null) {
    const limit = state.runLimits.get(runId);
    if (limit !== undefined && (state.byRun.get(runId) ?? 0) >= limit) return false;
  }
  return true;
}

export function createGovernorLogic(input: GovernorInput) {
  return fromTransition(
    (state: GovernorState, event: GovernorEvent): GovernorState => {
      switch (event.type) {
        case 'acquire': {
          if (state.holders.has(event.executionId)) return state;
          state.holders.set(event.executionId, { owner: event.owner, runId: event.runId });
          state.running++;
          bump(state.byOwner, event.owner, 1);
          if (event.runId !== null) bump(state.byRun, event.runId, 1);
          return state;
        }
        case 'release': {
          let released = false;
          for (const executionId of event.executionIds) {
            const holder = state.holders.get(executionId);
            if (!holder) continue;
            state.holders.delete(executionId);
            state.running--;
            bump(state.byOwner, holder.owner, -1);
            if (holder.runId !== null) bump(state.byRun, holder.runId, -1);
            released = true;
          }
          if (released) input.onRelease();
          return state;
        }
        case 'limitRun': {
          if (event.maxParallel === null) state.runLimits.delete(event.runId);
          else state.runLimits.set(event.runId, event.maxParallel);
          return state;
        }
      }
    },
    {
      maxConcurrent: input.maxConcurrent,
      running: 0,
      holders: new Map(),
      byOwner: new Map(),
      byRun: new Map(),
      runLimits: new Map(),
    },
  );
}

export type GovernorRef = ActorRefFrom<ReturnType<typeof createGovernorLogic>>;
