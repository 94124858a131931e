import picomatch from 'picomatch';
import type { Clock } from '../core/clock.js';
import { TroupeError } from '../core/errors.js';
import type { HookEvent } from '../core/hook-events.js';
import type { Logger } from '../core/log.js';
import type { HookSource, Store, TriggerRecord } from '../store/store.port.js';
import { audit } from './audit.js';
import type { Coordinator } from './coordinator.js';
import type { Notifier } from './notifier.js';
import type { Principal } from './principal.js';

export interface TriggerRunsOptions {
  store: Store;
  coordinator: Coordinator;
  notifier: Notifier;
  clock: Clock;
  logger: Logger;
}

/** A verified webhook delivery: who sent it, its id, the provider's event name and what it means for triggers. */
export interface Delivery {
  source: HookSource;
  id: string;
  /** The provider's event name (`push`, `Merge Request Hook`, `ping`…), as stored with the delivery. */
  name: string;
  /** Null when the delivery starts nothing (a ping, a tag push, a closed pull request). */
  event: HookEvent | null;
}

/** Whether a trigger fires on an event: same event, and the branch matches one of its globs (all when none). */
export function triggerMatches(trigger: TriggerRecord, event: HookEvent): boolean {
  if (!trigger.events.includes(event.event)) return false;
  return trigger.branches === null || picomatch.isMatch(event.branch, trigger.branches, { dot: true });
}

/**
 * Starts the runs of the triggers a delivery matches, once per delivery id. Each run is submitted with an
 * idempotency key made of the delivery and the trigger, so a delivery received again — at the same time, or after
 * a crash before it was recorded — finds the runs already stored instead of starting new ones (the runs' unique
 * key decides); the delivery is then stored with its runs, and the same id answers them from then on.
 */
export class TriggerRuns {
  /** Deliveries being handled in this process: a concurrent duplicate waits for the same answer. */
  private readonly inFlight = new Map<string, Promise<string[]>>();

  constructor(private readonly options: TriggerRunsOptions) {}

  /** The ids of the runs the delivery started (the same ones for the same delivery id). */
  receive(delivery: Delivery): Promise<string[]> {
    const key = `${delivery.source}\n${delivery.id}`;
    const running = this.inFlight.get(key);
    if (running) return running;
    const handled = this.handle(delivery).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, handled);
    return handled;
  }

  private async handle(delivery: Delivery): Promise<string[]> {
    const { store, clock } = this.options;
    const stored = await store.getHookDelivery(delivery.source, delivery.id);
    if (stored) return stored.runs;
    const runs: string[] = [];
    const event = delivery.event;
    if (event) {
      for (const trigger of await store.triggersFor(delivery.source, event.repository)) {
        if (!triggerMatches(trigger, event)) continue;
        const runId = await this.start(trigger, delivery, event);
        if (runId !== null) runs.push(runId);
      }
    }
    const record = { source: delivery.source, id: delivery.id, event: delivery.name, runs, receivedAt: clock.now() };
    if (await store.recordHookDelivery(record)) return runs;
    // Another process stored this delivery first: its runs are the answer (ours were the same, by their keys).
    return (await store.getHookDelivery(delivery.source, delivery.id))?.runs ?? runs;
  }

  /**
   * Submits one run of the trigger's suite as its owner. A retryable failure (queue full, engine stopping) fails
   * the delivery, so that it can be sent again; any other (the suite is gone) skips this trigger, logged.
   */
  private async start(trigger: TriggerRecord, delivery: Delivery, event: HookEvent): Promise<string | null> {
    const { coordinator, store, clock, logger, notifier } = this.options;
    const principal: Principal = { id: trigger.owner, roles: ['runner'], source: `webhook:${delivery.source}` };
    const labels = {
      source: delivery.source,
      // As the trigger names it: a provider may spell it in another case, and the label keys the run's series.
      repository: trigger.repository,
      branch: event.branch,
      commit: event.commit,
      event: event.event,
      delivery: delivery.id,
      trigger: trigger.id,
    };
    const idempotencyKey = `hook:${delivery.source}:${delivery.id}:${trigger.id}`;
    try {
      const run = await coordinator.submitRun({ name: trigger.name, suiteId: trigger.suiteId, context: 'CI_CD', labels, idempotencyKey }, principal);
      if (trigger.notify) await notifier.watch(run.id, trigger.id);
      if (run.created) await audit(store, clock, principal, 'TRIGGER_RUN', run.id, { trigger: trigger.id, delivery: delivery.id, event: event.event });
      return run.id;
    } catch (err) {
      // The suite was edited between the first delivery (its run stored, the delivery not) and this one: the run the
      // first one started is the answer.
      const earlier = err instanceof TroupeError && err.code === 'IDEMPOTENCY_CONFLICT' ? await store.findRunByIdempotencyKey(trigger.owner, idempotencyKey) : null;
      if (earlier) return earlier.id;
      if (err instanceof TroupeError && !err.retryable) {
        logger.warn({ err, triggerId: trigger.id, delivery: delivery.id }, 'trigger started no run');
        return null;
      }
      throw err;
    }
  }
}
