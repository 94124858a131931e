import type { Bus, Consumer, Delivery, Job, Unsubscribe } from '../bus/bus.port.js';
import type { Logger } from '../core/log.js';
import type { RunningTask, WorkerPool } from '../pool/worker-pool.js';

export interface WorkerNodeOptions {
  bus: Bus;
  pool: WorkerPool;
  logger: Logger;
  agentId: string;
  /**
   * Pool (job subject) this node pulls from.
   * @defaultValue 'default'
   */
  poolName?: string;
  /**
   * Interval at which leases of long-running jobs are extended.
   * @defaultValue 5000
   */
  leaseRefreshMs?: number;
}

interface InFlight {
  delivery: Delivery<Job>;
  task: RunningTask;
}

/**
 * Pulls jobs from the bus into the local worker pool, never more than the pool can run at once, publishes
 * each result and only then acknowledges the job. Stop requests on the control subject reach the runner.
 */
export class WorkerNode {
  private consumer: Consumer | null = null;
  private unsubscribeControl: Unsubscribe | null = null;
  private readonly inFlight = new Map<string, InFlight>();
  private leaseTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: WorkerNodeOptions) {}

  start(): void {
    const { bus, pool } = this.options;
    this.unsubscribeControl = bus.subscribeControl((message) => {
      this.inFlight.get(message.jobId)?.task.stop(message.type, message.reason);
    });
    this.consumer = bus.consumeJobs(this.options.poolName ?? 'default', (delivery) => this.handle(delivery), {
      maxInFlight: pool.capacity,
    });
    this.leaseTimer = setInterval(() => {
      for (const { delivery } of this.inFlight.values()) delivery.working();
    }, this.options.leaseRefreshMs ?? 5000);
    this.leaseTimer.unref();
  }

  get running(): number {
    return this.inFlight.size;
  }

  private handle(delivery: Delivery<Job>): void {
    const job = delivery.data;
    const startedAt = Date.now();
    const task = this.options.pool.run({
      jobId: job.jobId,
      executionId: job.executionId,
      attempt: job.attempt,
      item: job.item,
      deadlineAt: job.deadlineAt,
    });
    this.inFlight.set(job.jobId, { delivery, task });
    void task.result
      .then((outcome) =>
        this.options.bus.publishResult({
          jobId: job.jobId,
          executionId: job.executionId,
          attempt: job.attempt,
          outcome: outcome.outcome,
          reason: outcome.reason,
          ...(outcome.error ? { error: outcome.error } : {}),
          steps: outcome.steps,
          agentId: this.options.agentId,
          startedAt,
          finishedAt: Date.now(),
        }),
      )
      .then(
        () => delivery.ack(),
        (err: unknown) => {
          // The result could not be published: hand the job back so it is redelivered.
          this.options.logger.error({ err, executionId: job.executionId }, 'publishing a job result failed');
          delivery.nak(1000);
        },
      )
      .finally(() => this.inFlight.delete(job.jobId));
  }

  /**
   * Stops pulling and waits for running jobs to finish and report. With `abort`, running jobs are stopped
   * first: their executions stay RUNNING in the store and are retried as lost work by the next coordinator.
   */
  async stop(options: { abort?: boolean } = {}): Promise<void> {
    this.unsubscribeControl?.();
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    await this.consumer?.stop();
    if (options.abort) {
      for (const { task } of this.inFlight.values()) task.stop('abort', 'the engine is shutting down');
    }
    await Promise.allSettled([...this.inFlight.values()].map(({ task }) => task.result));
  }
}
