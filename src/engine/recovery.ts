import { isTerminal } from '../core/statuses.js';
import type { Lifecycles } from './lifecycles.js';
import type { CoordinatorOptions } from './options.js';

/** Ended runs, newest first, whose missing history a restart writes: a stop leaves at most the last few. */
const HISTORY_BACKFILL = 100;

/**
 * After a restart: an actor for every execution the store holds unfinished, a supervisor for every unfinished
 * run, and each put back to what its status waits for (timers re-armed from the stored deadlines).
 */
export async function recover(options: CoordinatorOptions, lifecycles: Lifecycles): Promise<void> {
  const { store, bus, clock, logger } = options;
  // A run's history is written just after it ends: a stop in between leaves it to be written now.
  const unrecorded = await store.runsWithoutHistory(HISTORY_BACKFILL);
  // One after the other, in the background: the engine's own writes go between their pages.
  void (async () => {
    for (const run of unrecorded) await store.recordRunHistory(run.id, run.endedAt);
  })().catch((err: unknown) => logger.error({ err }, 'run history not stored'));
  const restored = (await store.listActive()).map((record) => [lifecycles.spawn(record), record] as const);
  // Supervisors after the actors (failFast may stop some), before anything is started.
  for (const run of await store.listActiveRuns()) lifecycles.supervise(run, await store.runMembers(run.id));
  let lost = 0;
  for (const [actor, record] of restored) {
    if (isTerminal(actor.status) || actor.status !== record.status) continue;
    if (record.status === 'RUNNING' && record.type === 'MANUAL') {
      actor.enter('RUNNING'); // nothing ran on a worker: decide the next step again
    } else if (record.status === 'RUNNING' && bus.durable) {
      // The job is still on the bus (or its result is): wait for it. Publishing it again under the same job
      // id covers a crash between storing RUNNING and publishing, and the bus drops the copy — but only within
      // its duplicate window; past it the first publish surely happened (it follows the stored RUNNING at
      // once), and a copy would run the test twice.
      lifecycles.governor.send({ type: 'acquire', executionId: actor.id, owner: actor.meta.owner, runId: actor.meta.runId });
      // Three quarters of the window leave room for the clocks of the old and the new process to differ.
      actor.resumeRunning(clock.now() - actor.context.last.at < (bus.duplicateWindowMs * 3) / 4);
    } else if (record.status === 'RUNNING') {
      lost++;
      void actor.apply('ERROR', {
        actor: 'engine',
        reason: `work lost: the engine restarted while attempt ${record.attempt} was running`,
      });
    } else {
      actor.enter(record.status);
    }
  }
  if (lifecycles.actors.size > 0) logger.info({ resumed: lifecycles.actors.size, lost }, 'resumed unfinished executions');
}
