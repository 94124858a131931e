import { DeliveryBudget } from '../bus/budget.js';
import { DEFAULT_POOL, type AgentHeartbeat, type Bus, type Consumer, type Delivery, type Job, type Unsubscribe } from '../bus/bus.port.js';
import type { Logger } from '../core/log.js';
import { satisfies } from '../core/routing.js';
import type { RunningTask, WorkerPool } from '../pool/worker-pool.js';
import { settlesWithin } from '../core/timeout.js';

export interface WorkerNodeOptions {
  bus: Bus;
  pool: WorkerPool;
  logger: Logger;
  agentId: string;
  /**
   * The base pool (job subject) this node pulls from; it also serves the requirement pools derived from it
   * whose required labels it has.
   * @defaultValue 'default'
   */
  poolName?: string;
  /**
   * What this agent offers to items that `require` labels.
   * @defaultValue {}
   */
  labels?: Record<string, string>;
  /** Item types this agent's runners take (announced in heartbeats). */
  runners?: readonly string[];
  /**
   * Interval at which leases of long-running jobs are extended.
   * @defaultValue 5000
   */
  leaseRefreshMs?: number;
  /**
   * Interval of heartbeats on the bus.
   * @defaultValue 10000
   */
  heartbeatMs?: number;
  /**
   * Interval of looking for new requirement pools (one listing of the bus's pools): how long the first job
   * for a new label combination may wait for this agent.
   * @defaultValue 2000
   */
  discoverMs?: number;
}

/** How long a leaving agent waits for stopped runners to settle before it leaves anyway. */
const STOP_WAIT_MS = 10_000;

interface InFlight {
  delivery: Delivery<Job>;
  task: RunningTask;
  /** Set when the node stopped the task to hand the job back: no result is published for it. */
  handedBack: boolean;
  /** Settles once the job is reported and acked, or handed back. */
  done: Promise<void>;
}

/**
 * An agent: pulls jobs from the bus into the local worker pool, never more than the pool can run at once
 * (one budget shared by every pool it serves), publishes each result and only then acknowledges the job.
 * Stop requests on the control subject reach the runner. Heartbeats announce it on the bus.
 */
export class WorkerNode {
  private readonly consumers = new Map<string, Consumer>();
  private unsubscribeControl: Unsubscribe | null = null;
  private readonly inFlight = new Map<string, InFlight>();
  private leaseTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private discoverTimer: NodeJS.Timeout | null = null;
  private readonly budget: DeliveryBudget;
  private readonly startedAt = Date.now();
  private stopping = false;

  constructor(private readonly options: WorkerNodeOptions) {
    this.budget = new DeliveryBudget(options.pool.capacity);
  }

  private get basePool(): string {
    return this.options.poolName ?? DEFAULT_POOL;
  }

  /** Starts pulling from the base pool at once; requirement pools are found by `refresh`. */
  start(): void {
    const { bus } = this.options;
    this.unsubscribeControl = bus.subscribeControl((message) => {
      this.inFlight.get(message.jobId)?.task.stop(message.type, message.reason);
    });
    this.consume(this.basePool);
    this.leaseTimer = setInterval(() => {
      for (const { delivery } of this.inFlight.values()) delivery.working();
    }, this.options.leaseRefreshMs ?? 5000);
    this.leaseTimer.unref();
    this.heartbeatTimer = setInterval(() => void this.beat(), this.options.heartbeatMs ?? 10_000);
    this.heartbeatTimer.unref();
    this.discoverTimer = setInterval(() => {
      this.refresh().catch((err: unknown) => this.options.logger.warn({ err }, 'looking for pools failed'));
    }, this.options.discoverMs ?? 2000);
    this.discoverTimer.unref();
    void this.beat();
  }

  /** Jobs running now. */
  get running(): number {
    return this.inFlight.size;
  }

  /** The pools consumed now. */
  get pools(): string[] {
    return [...this.consumers.keys()].sort();
  }

  /** Looks for requirement pools this agent's labels satisfy and starts consuming the new ones. */
  async refresh(): Promise<void> {
    const labels = this.options.labels ?? {};
    const prefix = `${this.basePool}-r`;
    for (const { pool, requires } of await this.options.bus.listPools()) {
      if (this.stopping) return;
      if (pool.startsWith(prefix) && !this.consumers.has(pool) && satisfies(labels, requires)) this.consume(pool);
    }
  }

  private consume(pool: string): void {
    this.consumers.set(pool, this.options.bus.consumeJobs(pool, (delivery) => this.handle(delivery), { budget: this.budget }));
    this.options.logger.info({ pool }, 'consuming jobs');
  }

  private async beat(leaving = false): Promise<void> {
    try {
      const heartbeat: AgentHeartbeat = {
        agentId: this.options.agentId,
        pools: this.pools,
        capacity: this.budget.limit,
        running: this.inFlight.size,
        runners: [...(this.options.runners ?? [])],
        labels: this.options.labels ?? {},
        startedAt: this.startedAt,
        at: Date.now(),
        ...(leaving ? { leaving: true } : {}),
      };
      await this.options.bus.publishHeartbeat(heartbeat);
    } catch (err) {
      this.options.logger.warn({ err }, 'heartbeat not sent');
    }
  }

  private handle(delivery: Delivery<Job>): void {
    const job = delivery.data;
    if (this.stopping) return delivery.nak(); // arrived while leaving: someone else takes it
    this.options.logger.debug({ jobId: job.jobId, deliveries: delivery.deliveryCount, pool: job.pool }, 'job taken');
    const startedAt = Date.now();
    const task = this.options.pool.run({
      jobId: job.jobId,
      executionId: job.executionId,
      attempt: job.attempt,
      item: job.item,
      deadlineAt: job.deadlineAt,
    });
    const entry: InFlight = { delivery, task, handedBack: false, done: Promise.resolve() };
    this.inFlight.set(job.jobId, entry);
    entry.done = task.result
      .then(async (outcome) => {
        this.options.logger.debug({ jobId: job.jobId, outcome: outcome.outcome }, 'job finished');
        if (entry.handedBack) {
          this.options.logger.debug({ jobId: job.jobId }, 'job handed back');
          return delivery.nak();
        }
        await this.options.bus.publishResult({
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
          deliveries: delivery.deliveryCount,
        });
        delivery.ack();
      })
      .catch((err: unknown) => {
        // The result could not be published: hand the job back so it is redelivered.
        this.options.logger.error({ err, executionId: job.executionId }, 'publishing a job result failed');
        delivery.nak(1000);
      })
      .finally(() => this.inFlight.delete(job.jobId));
  }

  /**
   * Leaves: stops pulling, announces it, and gives running jobs `drainMs` to finish and report. Jobs still
   * running after that are stopped and handed back to the bus (redelivered to another agent), not reported.
   * With `abort` (embedded engine shutdown), running jobs are stopped at once and handed back.
   */
  async stop(options: { abort?: boolean; drainMs?: number } = {}): Promise<void> {
    this.stopping = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.discoverTimer) clearInterval(this.discoverTimer);
    await Promise.all([...this.consumers.values()].map((consumer) => consumer.stop()));
    await this.beat(true);
    const settled = Promise.allSettled([...this.inFlight.values()].map(({ done }) => done));
    if (!options.abort) await settlesWithin(settled, options.drainMs ?? 30_000);
    // Leases stay extended until every job is reported or handed back: an expired lease would make the
    // hand-back a no-op and the job would wait out the ack wait.
    for (const entry of this.inFlight.values()) {
      entry.handedBack = true;
      entry.task.stop('abort', 'the agent is leaving: job handed back');
    }
    // The pool stops every runner within its grace period; should one still not settle, leaving goes on (the
    // pool's close terminates its thread, and the unsettled job is redelivered when its lease runs out).
    if (!(await settlesWithin(settled, STOP_WAIT_MS))) {
      this.options.logger.warn({ jobs: [...this.inFlight.keys()] }, 'jobs still running after they were stopped; leaving anyway');
    }
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    // Stop requests keep reaching running jobs while they drain.
    this.unsubscribeControl?.();
  }
}
