import { readFile } from 'node:fs/promises';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import {
  connect,
  credsAuthenticator,
  type ConnectionOptions,
  type Msg,
  type NatsConnection,
} from '@nats-io/transport-node';
import { budgetFor, DeliveryBudget } from './budget.js';
import {
  assertPoolName,
  poolNameError,
  type AgentHeartbeat,
  type Bus,
  type Consumer,
  type ControlMessage,
  type DeadLetter,
  type Delivery,
  type Job,
  type JobConsumerOptions,
  type JobResult,
  type PoolInfo,
  type ResultBatchOptions,
  type TransitionEvent,
  type Unsubscribe,
} from './bus.port.js';
import type { JetStreamDelivery } from './jetstream/delivery.js';
import { findDeadLetters } from './jetstream/dead-letters.js';
import { COORDINATOR_CONSUMER, names, type Names } from './jetstream/names.js';
import { StreamPublisher } from './jetstream/publisher.js';
import { decodeJson, PullConsumer } from './jetstream/pull-consumer.js';
import {
  DUPLICATE_WINDOW_MS,
  declarePoolConsumer,
  ensureCoordinatorConsumer,
  ensurePoolConsumer,
  ensureStreams,
  requirementsOf,
} from './jetstream/topology.js';
import { settlesWithin, withTimeout } from '../core/timeout.js';

export interface JetStreamBusOptions {
  /** Comma-separated server URLs (`nats://host:4222`). */
  servers: string;
  /**
   * How long a delivered job or result may stay unsettled before it is redelivered.
   * @defaultValue 30000
   */
  ackWaitMs?: number;
  /**
   * Deliveries of a job before it is dead-lettered.
   * @defaultValue 5
   */
  maxDeliver?: number;
  /** Connection name shown by the server's monitoring. */
  name?: string;
  user?: string;
  pass?: string;
  token?: string;
  /** A `.creds` file (JWT and nkey seed). */
  credsFile?: string;
  /**
   * First token of every subject; stream names start with it upper-cased. Lets installations share a server.
   * @defaultValue 'troupe'
   */
  prefix?: string;
  /**
   * Bring existing streams to Troupe's configuration at connect (the coordinator). Agents pass false: they
   * create missing streams only, so an operator's changed limits are never undone by a worker starting.
   * @defaultValue true
   */
  manageStreams?: boolean;
  /**
   * Most stream publishes awaiting their acknowledgement at once, per lane (jobs, results and dead letters
   * in one; transitions in the other); more wait in line.
   * @defaultValue 256
   */
  publishWindow?: number;
}

/** Results and dead letters the coordinator may hold unsettled at once. */
const COORDINATOR_IN_FLIGHT = 256;
/** How long closing waits for publishes still awaiting their acknowledgement before it drops them. */
const CLOSE_FLUSH_MS = 5_000;
const encoder = new TextEncoder();
const encode = (value: unknown) => encoder.encode(JSON.stringify(value));

function fanOutSubscription<T>(nc: NatsConnection, subject: string, handler: (value: T) => void): Unsubscribe {
  const sub = nc.subscribe(subject, {
    callback: (err: Error | null, msg: Msg) => {
      if (err) return;
      try {
        handler(decodeJson<T>(msg.data));
      } catch {
        // One subscriber's failure (or an unreadable message) must not stop delivery.
      }
    },
  });
  return () => {
    try {
      sub.unsubscribe();
    } catch {
      // The connection is already closed: nothing is delivered any more anyway.
    }
  };
}

/**
 * Collects what `deliver` is given within one turn (the nats.js parser hands over every message of one socket
 * read synchronously) and passes it on as one batch, at most `maxBatch` at a time. A handler that throws leaves
 * its batch unsettled: the leases run out and the server redelivers it.
 */
function batched<T>(handler: (items: T[]) => void, maxBatch: number): (item: T) => void {
  let batch: T[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    const items = batch;
    batch = [];
    if (items.length === 0) return;
    try {
      handler(items);
    } catch {
      // as with a single delivery: redelivered once its lease runs out
    }
  };
  return (item) => {
    batch.push(item);
    if (batch.length >= maxBatch) flush();
    else if (!scheduled) {
      scheduled = true;
      queueMicrotask(flush);
    }
  };
}

/**
 * The bus of distributed mode, on NATS JetStream: jobs, results and dead letters in file-backed streams
 * (durable across restarts of this process and of nats-server), transitions in a stream and fanned out,
 * control messages and heartbeats on core NATS. See {@link names} for the subjects.
 */
export class JetStreamBus implements Bus {
  readonly kind = 'jetstream';
  readonly durable = true;
  readonly duplicateWindowMs = DUPLICATE_WINDOW_MS;
  private readonly consumers = new Set<Consumer>();
  private closing: Promise<void> | null = null;
  /** Jobs, results and dead letters: what a worker or the coordinator waits on. */
  private readonly work: StreamPublisher;
  /** Transitions, in order per execution; a lane of their own so a burst of them never delays a job. */
  private readonly events: StreamPublisher;

  private constructor(
    /** The connection, for services outside the port (request/reply). */
    readonly connection: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly n: Names,
    private readonly ackWaitMs: number,
    private readonly maxDeliver: number,
    publishWindow: number,
  ) {
    this.work = new StreamPublisher(connection, { window: publishWindow });
    this.events = new StreamPublisher(connection, { window: publishWindow });
  }

  /** First token of every subject of this bus. */
  get prefix(): string {
    return this.n.prefix;
  }

  static async connect(options: JetStreamBusOptions): Promise<JetStreamBus> {
    const n = names(options.prefix);
    const connection: ConnectionOptions = {
      servers: options.servers.split(',').map((s) => s.trim()),
      name: options.name ?? 'troupe',
      // Reconnect forever: a restarted nats-server is waited for, not given up on.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      ...(options.user === undefined ? {} : { user: options.user }),
      ...(options.pass === undefined ? {} : { pass: options.pass }),
      ...(options.token === undefined ? {} : { token: options.token }),
      ...(options.credsFile === undefined ? {} : { authenticator: credsAuthenticator(await readFile(options.credsFile)) }),
    };
    const nc = await connect(connection);
    try {
      const jsm = await jetstreamManager(nc);
      await ensureStreams(jsm, n, options.manageStreams !== false);
      return new JetStreamBus(nc, jsm, n, options.ackWaitMs ?? 30_000, options.maxDeliver ?? 5, options.publishWindow ?? 256);
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  /** Resolves once the stream acknowledged the message (see {@link StreamPublisher}). */
  private publish(subject: string, value: unknown, msgID: string): Promise<void> {
    return this.work.publish(subject, encode(value), msgID).then(() => undefined);
  }

  private track<C extends Consumer>(consumer: C): Consumer {
    this.consumers.add(consumer);
    return {
      stop: async () => {
        this.consumers.delete(consumer);
        await consumer.stop();
      },
    };
  }

  publishJob(job: Job): Promise<void> {
    const invalid = poolNameError(job.pool);
    if (invalid) return Promise.reject(invalid);
    return this.publish(this.n.job(job.pool), job, job.jobId);
  }

  consumeJobs(pool: string, handler: (delivery: Delivery<Job>) => void, options: JobConsumerOptions): Consumer {
    assertPoolName(pool);
    return this.track(
      new PullConsumer<Job>({
        nc: this.connection,
        stream: this.n.streams.jobs,
        consumer: pool,
        budget: budgetFor(options),
        ackWaitMs: this.ackWaitMs,
        ensure: () => ensurePoolConsumer(this.jsm, this.n, pool, this.ackWaitMs),
        decode: decodeJson<Job>,
        deliver: (delivery) => {
          if (delivery.deliveryCount > this.maxDeliver) void this.deadLetter(delivery);
          else handler(delivery);
        },
      }),
    );
  }

  /**
   * Moves a job delivered too often to the dead-letter stream, then terminates it. Stored before the
   * term, so a crash in between redelivers the job and the letter's id makes the second copy a duplicate.
   */
  private async deadLetter(delivery: JetStreamDelivery<Job>): Promise<void> {
    const job = delivery.data;
    const letter: DeadLetter = {
      job,
      deliveries: this.maxDeliver,
      deadAt: Date.now(),
      reason: `delivered ${this.maxDeliver} times without an ack`,
    };
    try {
      // The stream sequence tells a redriven job (published again, new sequence) from this one.
      await this.publish(this.n.dead(job.pool), letter, `dead:${job.jobId}:${delivery.streamSequence}`);
      delivery.term();
    } catch {
      // Not stored: leave the job to be redelivered and dead-lettered then.
    }
  }

  async declarePool(pool: string, requires: Record<string, string>): Promise<void> {
    assertPoolName(pool);
    await declarePoolConsumer(this.jsm, this.n, pool, requires, this.ackWaitMs);
  }

  async listPools(): Promise<PoolInfo[]> {
    const pools: PoolInfo[] = [];
    for await (const info of this.jsm.consumers.list(this.n.streams.jobs)) {
      pools.push({ pool: info.name, requires: requirementsOf(info) });
    }
    return pools.sort((a, b) => (a.pool < b.pool ? -1 : a.pool > b.pool ? 1 : 0));
  }

  publishResult(result: JobResult): Promise<void> {
    return this.publish(this.n.result(result.executionId), result, `result:${result.jobId}`);
  }

  consumeResults(handler: (delivery: Delivery<JobResult>) => void): Consumer {
    return this.coordinatorConsumer(this.n.streams.results, handler);
  }

  /** Hands over together the results that arrived in one read from the connection (one pull's worth, or less). */
  consumeResultBatches(handler: (deliveries: Delivery<JobResult>[]) => void, options: ResultBatchOptions = {}): Consumer {
    return this.coordinatorConsumer(this.n.streams.results, batched(handler, options.maxBatch ?? COORDINATOR_IN_FLIGHT));
  }

  consumeDeadLetters(handler: (delivery: Delivery<DeadLetter>) => void): Consumer {
    return this.coordinatorConsumer(this.n.streams.dead, handler);
  }

  private coordinatorConsumer<T>(stream: string, handler: (delivery: Delivery<T>) => void): Consumer {
    return this.track(
      new PullConsumer<T>({
        nc: this.connection,
        stream,
        consumer: COORDINATOR_CONSUMER,
        budget: new DeliveryBudget(COORDINATOR_IN_FLIGHT),
        ackWaitMs: this.ackWaitMs,
        ensure: () => ensureCoordinatorConsumer(this.jsm, stream, this.ackWaitMs),
        decode: decodeJson<T>,
        deliver: handler,
      }),
    );
  }

  async listDeadLetters(): Promise<DeadLetter[]> {
    return (await findDeadLetters(this.jsm, this.n)).map((found) => found.letter);
  }

  async removeDeadLetter(jobId: string): Promise<boolean> {
    let removed = false;
    for (const found of await findDeadLetters(this.jsm, this.n, (letter) => letter.job.jobId === jobId)) {
      if (await this.jsm.streams.deleteMessage(this.n.streams.dead, found.seq, false)) removed = true;
    }
    return removed;
  }

  /**
   * Resolves once `TROUPE_EVENTS` acknowledged the event. Transitions of one execution reach the stream in the
   * order of these calls (the engine makes them in `seq` order), even across retries and reconnects.
   */
  publishTransition(event: TransitionEvent): Promise<void> {
    const subject = this.n.transition(event.runId, event.executionId, event.to);
    return this.events.publish(subject, encode(event), `${event.executionId}:${event.seq}`, event.executionId).then(() => undefined);
  }

  subscribeTransitions(handler: (event: TransitionEvent) => void): Unsubscribe {
    return fanOutSubscription(this.connection, this.n.all.events, handler);
  }

  /** Core NATS publish: fire-and-forget, rejected only when the bus is closed. */
  private publishCore(subject: string, value: unknown): Promise<void> {
    try {
      this.connection.publish(subject, encode(value));
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  publishControl(message: ControlMessage): Promise<void> {
    return this.publishCore(this.n.control(message.executionId), message);
  }

  subscribeControl(handler: (message: ControlMessage) => void): Unsubscribe {
    return fanOutSubscription(this.connection, this.n.allControl, handler);
  }

  publishHeartbeat(heartbeat: AgentHeartbeat): Promise<void> {
    return this.publishCore(this.n.agent(heartbeat.agentId), heartbeat);
  }

  subscribeHeartbeats(handler: (heartbeat: AgentHeartbeat) => void): Unsubscribe {
    return fanOutSubscription(this.connection, this.n.allAgents, handler);
  }

  /** A round trip to the server, bounded: while reconnecting it would otherwise wait. */
  async ping(timeoutMs: number): Promise<void> {
    await withTimeout(this.connection.rtt(), timeoutMs, () => new Error(`NATS did not answer within ${timeoutMs} ms`));
  }

  /**
   * Stops every consumer (unsettled deliveries go back to the server), gives publishes still awaiting their
   * acknowledgement a moment to get it, then drains the connection.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const consumer of [...this.consumers]) await consumer.stop();
      this.consumers.clear();
      await settlesWithin(Promise.all([this.work.idle(), this.events.idle()]), CLOSE_FLUSH_MS);
      this.work.close();
      this.events.close();
      if (!this.connection.isClosed()) await this.connection.drain().catch(() => this.connection.close());
    })();
    return this.closing;
  }
}
