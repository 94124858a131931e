import { budgetFor, DeliveryBudget } from './budget.js';
import {
  assertPoolName,
  poolNameError,
  type AgentHeartbeat,
  type Bus,
  type BusOptions,
  type Consumer,
  type ControlMessage,
  type DeadLetter,
  type Delivery,
  type Job,
  type JobConsumerOptions,
  type JobResult,
  type PoolInfo,
  type TransitionEvent,
  type Unsubscribe,
} from './bus.port.js';

interface Message<T> {
  data: T;
  deliveries: number;
  /** Set while delivered and unsettled. */
  leaseUntil: number | null;
  consumer: QueueConsumer<T> | null;
  settled: boolean;
}

interface QueueConsumer<T> {
  handler: (delivery: Delivery<T>) => void;
  /** One unit per unsettled delivery; may be shared with consumers of other queues. */
  budget: DeliveryBudget;
  stopped: boolean;
}

/** Unlimited in-flight, for the coordinator's consumers. */
const UNBOUNDED = Number.MAX_SAFE_INTEGER;

/**
 * An at-least-once work queue in memory: the same delivery semantics as a JetStream work-queue stream with
 * an explicit-ack pull consumer (lease, redelivery, max deliveries).
 */
class WorkQueue<T> {
  private ready: Message<T>[] = [];
  private head = 0;
  private readonly leased = new Set<Message<T>>();
  private readonly consumers: QueueConsumer<T>[] = [];
  private next = 0;
  private pumping = false;
  /** A pump is queued for after the current microtask (acks coalesce into one). */
  private pumpQueued = false;
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    private readonly ackWaitMs: number,
    private readonly maxDeliver: number,
    private readonly onExhausted: (data: T, deliveries: number) => void,
  ) {}

  push(data: T): void {
    this.ready.push({ data, deliveries: 0, leaseUntil: null, consumer: null, settled: false });
    this.pump();
  }

  consume(handler: (delivery: Delivery<T>) => void, budget: DeliveryBudget): Consumer {
    const consumer: QueueConsumer<T> = { handler, budget, stopped: false };
    this.consumers.push(consumer);
    // Capacity freed by a consumer of another queue sharing the budget may be ours to use.
    const unlisten = budget.onRelease(() => queueMicrotask(() => this.pump()));
    this.ensureSweeper();
    this.pump();
    return {
      stop: () => {
        // Idempotent: a second stop must not splice(-1, 1) away another consumer.
        const index = this.consumers.indexOf(consumer);
        if (index >= 0) this.consumers.splice(index, 1);
        consumer.stopped = true;
        unlisten();
        return Promise.resolve();
      },
    };
  }

  /** Drops waiting messages that match (a dead letter removed before it was delivered). */
  remove(match: (data: T) => boolean): void {
    const kept = this.ready.slice(this.head).filter((msg) => !match(msg.data));
    this.ready = kept;
    this.head = 0;
  }

  get depth(): number {
    return this.ready.length - this.head + this.leased.size;
  }

  private ensureSweeper(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => this.sweep(), Math.max(10, Math.min(1000, this.ackWaitMs / 2)));
    this.sweeper.unref();
  }

  /** Redelivers messages whose lease expired (consumer crashed or hung). */
  private sweep(): void {
    const now = Date.now();
    for (const msg of this.leased) {
      if (msg.leaseUntil !== null && msg.leaseUntil <= now) this.release(msg, 0);
    }
  }

  private release(msg: Message<T>, delayMs: number): void {
    if (msg.settled || msg.consumer === null) return;
    this.leased.delete(msg);
    const { budget } = msg.consumer;
    msg.consumer = null;
    msg.leaseUntil = null;
    budget.release(1);
    if (msg.deliveries >= this.maxDeliver) {
      msg.settled = true;
      this.onExhausted(msg.data, msg.deliveries);
    } else if (delayMs > 0) {
      setTimeout(() => this.requeue(msg), delayMs).unref();
    } else {
      this.requeue(msg);
    }
    this.pump();
  }

  private requeue(msg: Message<T>): void {
    this.ready.push(msg);
    this.pump();
  }

  private pickConsumer(): QueueConsumer<T> | null {
    for (let i = 0; i < this.consumers.length; i++) {
      const c = this.consumers[(this.next + i) % this.consumers.length];
      if (c && c.budget.free > 0) {
        this.next = (this.next + i + 1) % this.consumers.length;
        return c;
      }
    }
    return null;
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.head < this.ready.length) {
        const consumer = this.pickConsumer();
        if (!consumer) break;
        const msg = this.ready[this.head++] as Message<T>;
        this.deliver(msg, consumer);
      }
      if (this.head > 1024 && this.head * 2 > this.ready.length) {
        this.ready = this.ready.slice(this.head);
        this.head = 0;
      }
    } finally {
      this.pumping = false;
    }
  }

  private deliver(msg: Message<T>, consumer: QueueConsumer<T>): void {
    msg.deliveries++;
    msg.consumer = consumer;
    msg.leaseUntil = Date.now() + this.ackWaitMs;
    consumer.budget.take(1);
    this.leased.add(msg);
    try {
      consumer.handler(new QueueDelivery(this, msg, consumer));
    } catch {
      // A throwing handler leaves the message leased; it is redelivered when the lease expires.
    }
  }

  /** The consumer settled the message: it is gone for good. */
  acked(msg: Message<T>, consumer: QueueConsumer<T>): void {
    if (msg.settled || msg.consumer !== consumer) return;
    msg.settled = true;
    this.leased.delete(msg);
    msg.consumer = null;
    consumer.budget.release(1);
    if (!this.pumpQueued) {
      this.pumpQueued = true;
      queueMicrotask(() => {
        this.pumpQueued = false;
        this.pump();
      });
    }
  }

  naked(msg: Message<T>, consumer: QueueConsumer<T>, delayMs: number): void {
    if (msg.consumer === consumer) this.release(msg, delayMs);
  }

  extended(msg: Message<T>, consumer: QueueConsumer<T>): void {
    if (msg.consumer === consumer && !msg.settled) msg.leaseUntil = Date.now() + this.ackWaitMs;
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }
}

/** One delivery of a message to a consumer; settling it after the message was redelivered elsewhere is a no-op. */
class QueueDelivery<T> implements Delivery<T> {
  readonly data: T;
  readonly deliveryCount: number;

  constructor(
    private readonly queue: WorkQueue<T>,
    private readonly msg: Message<T>,
    private readonly consumer: QueueConsumer<T>,
  ) {
    this.data = msg.data;
    this.deliveryCount = msg.deliveries;
  }

  ack(): void {
    this.queue.acked(this.msg, this.consumer);
  }

  nak(delayMs = 0): void {
    this.queue.naked(this.msg, this.consumer, delayMs);
  }

  working(): void {
    this.queue.extended(this.msg, this.consumer);
  }
}

function fanOut<T>(handlers: Set<(value: T) => void>, value: T): void {
  for (const handler of handlers) {
    try {
      handler(value);
    } catch {
      // One subscriber's failure must not stop delivery to the others.
    }
  }
}

/** The in-process bus of embedded mode: nothing outlives the process. */
export class MemoryBus implements Bus {
  readonly kind = 'memory';
  readonly durable = false;
  readonly duplicateWindowMs = 0;
  private readonly jobs = new Map<string, WorkQueue<Job>>();
  private readonly pools = new Map<string, Record<string, string>>();
  private readonly results: WorkQueue<JobResult>;
  private readonly deadQueue: WorkQueue<DeadLetter>;
  /** Every dead letter not removed, oldest first, acked or not. */
  private readonly deadHeld: DeadLetter[] = [];
  private readonly transitions = new Set<(event: TransitionEvent) => void>();
  private readonly control = new Set<(message: ControlMessage) => void>();
  private readonly heartbeats = new Set<(heartbeat: AgentHeartbeat) => void>();
  private readonly ackWaitMs: number;
  private readonly maxDeliver: number;

  constructor(options: BusOptions = {}) {
    this.ackWaitMs = options.ackWaitMs ?? 30_000;
    this.maxDeliver = options.maxDeliver ?? 5;
    // Results and dead letters are never dead-lettered: the coordinator must see every one.
    this.results = new WorkQueue<JobResult>(this.ackWaitMs, UNBOUNDED, () => undefined);
    this.deadQueue = new WorkQueue<DeadLetter>(this.ackWaitMs, UNBOUNDED, () => undefined);
  }

  private jobQueue(pool: string): WorkQueue<Job> {
    let queue = this.jobs.get(pool);
    if (!queue) {
      queue = new WorkQueue<Job>(this.ackWaitMs, this.maxDeliver, (job, deliveries) => this.deadLetter(job, deliveries));
      this.jobs.set(pool, queue);
    }
    return queue;
  }

  private deadLetter(job: Job, deliveries: number): void {
    const letter: DeadLetter = {
      job,
      deliveries,
      deadAt: Date.now(),
      reason: `delivered ${deliveries} times without an ack`,
    };
    this.deadHeld.push(letter);
    this.deadQueue.push(letter);
  }

  publishJob(job: Job): Promise<void> {
    const invalid = poolNameError(job.pool);
    if (invalid) return Promise.reject(invalid);
    this.jobQueue(job.pool).push(job);
    return Promise.resolve();
  }

  consumeJobs(pool: string, handler: (delivery: Delivery<Job>) => void, options: JobConsumerOptions): Consumer {
    assertPoolName(pool);
    if (!this.pools.has(pool)) this.pools.set(pool, {});
    return this.jobQueue(pool).consume(handler, budgetFor(options));
  }

  declarePool(pool: string, requires: Record<string, string>): Promise<void> {
    const invalid = poolNameError(pool);
    if (invalid) return Promise.reject(invalid);
    this.pools.set(pool, { ...requires });
    return Promise.resolve();
  }

  listPools(): Promise<PoolInfo[]> {
    const pools = [...this.pools].map(([pool, requires]) => ({ pool, requires: { ...requires } }));
    return Promise.resolve(pools.sort((a, b) => (a.pool < b.pool ? -1 : a.pool > b.pool ? 1 : 0)));
  }

  publishResult(result: JobResult): Promise<void> {
    this.results.push(result);
    return Promise.resolve();
  }

  consumeResults(handler: (delivery: Delivery<JobResult>) => void): Consumer {
    return this.results.consume(handler, new DeliveryBudget(UNBOUNDED));
  }

  consumeDeadLetters(handler: (delivery: Delivery<DeadLetter>) => void): Consumer {
    return this.deadQueue.consume(handler, new DeliveryBudget(UNBOUNDED));
  }

  listDeadLetters(): Promise<DeadLetter[]> {
    return Promise.resolve(this.deadHeld.map((letter) => ({ ...letter })));
  }

  removeDeadLetter(jobId: string): Promise<boolean> {
    const index = this.deadHeld.findIndex((letter) => letter.job.jobId === jobId);
    if (index < 0) return Promise.resolve(false);
    const [letter] = this.deadHeld.splice(index, 1);
    this.deadQueue.remove((queued) => queued === letter);
    return Promise.resolve(true);
  }

  publishTransition(event: TransitionEvent): Promise<void> {
    fanOut(this.transitions, event);
    return Promise.resolve();
  }

  subscribeTransitions(handler: (event: TransitionEvent) => void): Unsubscribe {
    this.transitions.add(handler);
    return () => this.transitions.delete(handler);
  }

  publishControl(message: ControlMessage): Promise<void> {
    fanOut(this.control, message);
    return Promise.resolve();
  }

  subscribeControl(handler: (message: ControlMessage) => void): Unsubscribe {
    this.control.add(handler);
    return () => this.control.delete(handler);
  }

  publishHeartbeat(heartbeat: AgentHeartbeat): Promise<void> {
    fanOut(this.heartbeats, heartbeat);
    return Promise.resolve();
  }

  subscribeHeartbeats(handler: (heartbeat: AgentHeartbeat) => void): Unsubscribe {
    this.heartbeats.add(handler);
    return () => this.heartbeats.delete(handler);
  }

  ping(_timeoutMs: number): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    for (const queue of this.jobs.values()) queue.close();
    this.results.close();
    this.deadQueue.close();
    this.transitions.clear();
    this.control.clear();
    this.heartbeats.clear();
    return Promise.resolve();
  }
}
