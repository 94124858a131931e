import { consumeResultBatches, type Bus, type Consumer, type DeadLetter, type Delivery, type JobOutcome, type JobResult } from '../bus/bus.port.js';
import { isTerminal, type EventType } from '../core/statuses.js';
import type { Store, WriteOutcome } from '../store/store.port.js';
import type { Lifecycles } from './lifecycles.js';

const OUTCOME_EVENT: Record<JobOutcome, EventType> = {
  PASSED: 'PASS',
  FAILED: 'FAIL',
  ERROR: 'ERROR',
  TIMEOUT: 'TIMEOUT',
  SKIPPED: 'SKIP',
  // A runner that reports CANCELLED without a stop request stopped on its own: the system failed.
  CANCELLED: 'ERROR',
};

/** Acknowledged once the transition it caused is stored; handed back for another try when the write failed. */
function settleAfter(delivery: Delivery<unknown>, write: Promise<WriteOutcome> | null): void {
  if (!write) return delivery.ack();
  write.then(
    () => delivery.ack(),
    () => delivery.nak(1000),
  );
}

/**
 * Job results and dead letters coming back from the workers: each becomes a lifecycle event of its execution
 * (PASS, FAIL, ERROR, TIMEOUT, SKIP; ABORT for a dead letter), acknowledged on the bus only once stored.
 */
export class Results {
  private results: Consumer | null = null;
  private letters: Consumer | null = null;

  constructor(
    private readonly bus: Bus,
    private readonly store: Store,
    private readonly lifecycles: Lifecycles,
  ) {}

  start(): void {
    // Results that arrived together are applied in the same tick, so their transitions share one store commit.
    this.results = consumeResultBatches(this.bus, (deliveries) => {
      for (const delivery of deliveries) this.result(delivery);
    });
    this.letters = this.bus.consumeDeadLetters((delivery) => this.deadLetter(delivery));
  }

  async stop(): Promise<void> {
    await this.letters?.stop();
    await this.results?.stop();
  }

  private result(delivery: Delivery<JobResult>): void {
    const result = delivery.data;
    const actor = this.lifecycles.actors.get(result.executionId);
    if (!actor || !actor.jobFinished(result.jobId)) {
      // Stale: the attempt already ended (cancel, abort, the engine's timeout) or this is a duplicate. Its
      // steps are still worth keeping when that attempt has none (the store never overwrites any); an attempt
      // still going (paused and resumed: a new job) reports its own. An execution that ended while its end is
      // still being stored has no attempt going: its runner's report can come back before that commit.
      const going = actor !== undefined && !isTerminal(actor.status) && actor.context.attempt === result.attempt;
      if (result.steps.length === 0 || going) return delivery.ack();
      const { executionId, attempt, steps: items } = result;
      void this.store
        .getExecution(executionId)
        .then((record) => record && this.store.recordSteps({ executionId, runId: record.runId, attempt, items }))
        .then(
          () => delivery.ack(),
          () => delivery.nak(1000),
        );
      return;
    }
    const redelivered =
      result.deliveries !== undefined && result.deliveries > 1
        ? `delivery ${result.deliveries} of the job: earlier deliveries were not reported (worker lost)`
        : undefined;
    settleAfter(
      delivery,
      actor.apply(OUTCOME_EVENT[result.outcome], {
        actor: `worker:${result.agentId}`,
        reason: result.reason ?? redelivered,
        steps: result.steps,
        ...(result.error ? { retryable: result.error.retryable } : {}),
      }),
    );
  }

  private deadLetter(delivery: Delivery<DeadLetter>): void {
    const { job, deliveries } = delivery.data;
    const actor = this.lifecycles.actors.get(job.executionId);
    if (!actor || !actor.jobFinished(job.jobId)) return delivery.ack(); // stale or already settled
    settleAfter(delivery, actor.apply('ABORT', { actor: 'engine', reason: `job dead-lettered after ${deliveries} deliveries` }));
  }
}
