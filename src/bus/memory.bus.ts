import type {
  Bus,
  BusOptions,
  Consumer,
  ControlMessage,
  DeadLetter,
  Delivery,
  Job,
  JobResult,
  TransitionEvent,
  Unsubscribe,
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
  maxInFlight: number;
  inFlight: number;
  stopped: boolean;
}

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

  consume(handler: (delivery: Delivery<T>) => void, maxInFlight: number): Consumer {
    const consumer: QueueConsumer<T> = { handler, maxInFlight, inFlight: 0, stopped: false };
    this.consumers.push(consumer);
    this.ensureSweeper();
    this.pump();
    return {
      stop: () => {
        // Idempotent: a second stop must not splice(-1, 1) away another consumer.
        const index = this.consumers.indexOf(consumer);
        if (index >= 0) this.consumers.splice(index, 1);
        consumer.stopped = true;
        return Promise.resolve();
      },
    };
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
    msg.consumer.inFlight--;
    msg.consumer = null;
    msg.leaseUntil = null;
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
      if (c && c.inFlight < c.maxInFlight) {
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
    consumer.inFlight++;
    this.leased.add(msg);
    const delivery: Delivery<T> = {
      data: msg.data,
      deliveryCount: msg.deliveries,
      ack: () => {
        if (msg.settled || msg.consumer !== consumer) return;
        msg.settled = true;
        this.leased.delete(msg);
        consumer.inFlight--;
        msg.consumer = null;
        queueMicrotask(() => this.pump());
      },
      nak: (delayMs = 0) => {
        if (msg.consumer === consumer) this.release(msg, delayMs);
      },
      working: () => {
        if (msg.consumer === consumer && !msg.settled) msg.leaseUntil = Date.now() + this.ackWaitMs;
      },
    };
    try {
      consumer.handler(delivery);
    } catch {
      // A throwing handler leaves the message leased; it is redelivered when the lease expires.
    }
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
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

/** The in-process bus of embedded mode. */
export class MemoryBus implements Bus {
  readonly kind = 'memory';
  private readonly jobs = new Map<string, WorkQueue<Job>>();
  private readonly results: WorkQueue<JobResult>;
  private readonly transitions = new Set<(event: TransitionEvent) => void>();
  private readonly control = new Set<(message: ControlMessage) => void>();
  private readonly deadLetters = new Set<(letter: DeadLetter) => void>();
  private readonly ackWaitMs: number;
  private readonly maxDeliver: number;

  constructor(options: BusOptions = {}) {
    this.ackWaitMs = options.ackWaitMs ?? 30_000;
    this.maxDeliver = options.maxDeliver ?? 5;
    // Results are never dead-lettered: the coordinator must see every one.
    this.results = new WorkQueue<JobResult>(this.ackWaitMs, Number.MAX_SAFE_INTEGER, () => undefined);
  }

  private jobQueue(pool: string): WorkQueue<Job> {
    let queue = this.jobs.get(pool);
    if (!queue) {
      queue = new WorkQueue<Job>(this.ackWaitMs, this.maxDeliver, (job, deliveries) =>
        fanOut(this.deadLetters, { job, deliveries }),
      );
      this.jobs.set(pool, queue);
    }
    return queue;
  }

  publishJob(job: Job): Promise<void> {
    this.jobQueue(job.pool).push(job);
    return Promise.resolve();
  }

  consumeJobs(pool: string, handler: (delivery: Delivery<Job>) => void, options: { maxInFlight: number }): Consumer {
    return this.jobQueue(pool).consume(handler, options.maxInFlight);
  }

  publishResult(result: JobResult): Promise<void> {
    this.results.push(result);
    return Promise.resolve();
  }

  consumeResults(handler: (delivery: Delivery<JobResult>) => void): Consumer {
    return this.results.consume(handler, Number.MAX_SAFE_INTEGER);
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

  subscribeDeadLetters(handler: (letter: DeadLetter) => void): Unsubscribe {
    this.deadLetters.add(handler);
    return () => this.deadLetters.delete(handler);
  }

  close(): Promise<void> {
    for (const queue of this.jobs.values()) queue.close();
    this.results.close();
    this.transitions.clear();
    this.control.clear();
    this.deadLetters.clear();
    return Promise.resolve();
  }
}
