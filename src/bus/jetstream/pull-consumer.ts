import { createInbox, nanos, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { DeliveryBudget } from '../budget.js';
import type { Consumer } from '../bus.port.js';
import { JetStreamDelivery, parseDeliveryInfo } from './delivery.js';
import { atTurnEnd } from './turn-end.js';

export interface PullConsumerOptions<T> {
  nc: NatsConnection;
  stream: string;
  consumer: string;
  budget: DeliveryBudget;
  ackWaitMs: number;
  /** Creates the durable consumer if it is missing; run before the first pull and after trouble. */
  ensure: () => Promise<void>;
  decode: (data: Uint8Array) => T;
  /** Gets every delivery that decoded; exceptions are swallowed (the lease runs out and it comes again). */
  deliver: (delivery: JetStreamDelivery<T>) => void;
  /**
   * How long one pull waits at the server for messages.
   * @defaultValue 5000
   */
  pullExpiresMs?: number;
}

interface PullRequest {
  sub: Subscription;
  /** Units reserved for messages this pull may still bring. */
  remaining: number;
  timer: NodeJS.Timeout;
  done: boolean;
}

const decoder = new TextDecoder();
/** Pulls waiting at once per consumer: enough to add capacity freed while one waits. */
const MAX_WAITING_PULLS = 4;
/** Past a pull's expiry, how long to wait for the server's word before giving up on it. */
const PULL_GRACE_MS = 1_000;
const RETRY_AFTER_TROUBLE_MS = 1_000;

/**
 * The idle heartbeat a pull asks for: a quarter of the ack wait, and at most half the pull's expiry (the
 * server's limit). Heartbeats are what make nats-server look at its queue of waiting pulls often enough.
 *
 * nats-server 2.9 mishandles a redelivery that falls due while a consumer's waiting pulls are all stale — from
 * a client that died (nobody listens to their inbox any more) or expired but not yet cleared: it takes the
 * message off its redelivery queue, finds no live pull, and steps its stream position back by one (`o.sseq--`
 * in `loopAndGatherMsgs`, right for a new message, wrong for a redelivery). The message is later delivered as
 * if new, with its delivery count back at 1, so a job could run more than `maxDeliver` times. The server clears
 * stale pulls only when it next looks at the queue, which it schedules at the earliest expiry or heartbeat of
 * a pull. A lease lasts an ack wait from its last extension (every third of it, see the worker), so a job held
 * by a process killed at time K falls due at K + ⅔·ackWait at the earliest; with a heartbeat of ¼·ackWait that
 * process's pulls are cleared by then.
 */
export function pullHeartbeatFor(ackWaitMs: number, expiresMs: number): number {
  return Math.max(1, Math.min(Math.floor(expiresMs / 2), Math.floor(ackWaitMs / 4)));
}

/**
 * A JetStream pull consumer that never holds more unsettled deliveries than its budget allows.
 *
 * It talks the JetStream pull protocol itself (`$JS.API.CONSUMER.MSG.NEXT`), one subscription per pull,
 * rather than using nats.js `fetch()`/`consume()`: every pull asks for exactly the units it reserved, and a
 * pull is only given up once the server can no longer answer it (it expired, or its inbox is unsubscribed,
 * and the server does not deliver to a pull nobody listens to). nats.js re-pulls a full batch after a
 * reconnect, which could exceed the bound. Waiting pulls reserve at most the budget's fair share, so a
 * consumer of an idle pool cannot park capacity that a busy pool sharing the budget could use.
 */
export class PullConsumer<T> implements Consumer {
  private readonly requests = new Set<PullRequest>();
  private readonly unlisten: () => void;
  private readonly leave: () => void;
  private readonly pullExpiresMs: number;
  private readonly nextSubject: string;
  private stopped = false;
  private scheduled = false;
  private ensured = false;
  private ensuring = false;
  private pausedUntil = 0;
  private pauseTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: PullConsumerOptions<T>) {
    this.pullExpiresMs = options.pullExpiresMs ?? 5_000;
    this.nextSubject = `$JS.API.CONSUMER.MSG.NEXT.${options.stream}.${options.consumer}`;
    this.leave = options.budget.join();
    this.unlisten = options.budget.onRelease(() => this.schedule());
    this.schedule();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unlisten();
    this.leave();
    if (this.pauseTimer) clearTimeout(this.pauseTimer);
    for (const request of [...this.requests]) this.finish(request);
    // Once the server has seen the unsubscribes it delivers nothing more to this consumer's pulls.
    if (!this.options.nc.isClosed()) await this.options.nc.flush().catch(() => undefined);
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pause(): void {
    this.pausedUntil = Date.now() + RETRY_AFTER_TROUBLE_MS;
    if (this.pauseTimer) clearTimeout(this.pauseTimer);
    this.pauseTimer = setTimeout(() => {
      this.pauseTimer = null;
      this.schedule();
    }, RETRY_AFTER_TROUBLE_MS);
    this.pauseTimer.unref();
  }

  private pump(): void {
    const { nc, budget } = this.options;
    if (this.stopped || nc.isClosed() || nc.isDraining() || this.ensuring) return;
    if (Date.now() < this.pausedUntil) return;
    if (!this.ensured) {
      this.ensuring = true;
      this.options.ensure().then(
        () => {
          this.ensuring = false;
          this.ensured = true;
          this.schedule();
        },
        () => {
          this.ensuring = false;
          this.pause();
        },
      );
      return;
    }
    let parked = 0;
    for (const request of this.requests) parked += request.remaining;
    while (this.requests.size < MAX_WAITING_PULLS) {
      const want = Math.min(budget.free, budget.fairShare() - parked);
      if (want < 1) return;
      const granted = budget.take(want);
      parked += granted;
      this.pull(granted);
    }
  }

  private pull(batch: number): void {
    const { nc } = this.options;
    const inbox = createInbox();
    const request: PullRequest = { sub: undefined as unknown as Subscription, remaining: batch, timer: undefined as unknown as NodeJS.Timeout, done: false };
    request.sub = nc.subscribe(inbox, { callback: (err, msg) => this.received(request, err, msg) });
    request.timer = setTimeout(() => {
      // The server never said the pull ended: it may have restarted, or the consumer is gone.
      this.ensured = false;
      this.finish(request);
    }, this.pullExpiresMs + PULL_GRACE_MS);
    request.timer.unref();
    this.requests.add(request);
    // The inbox listens from now; the request leaves with the turn's other sends (acks, results).
    atTurnEnd(() => {
      if (request.done) return;
      try {
        nc.publish(this.nextSubject, this.pullRequest(batch), { reply: inbox });
      } catch {
        this.finish(request);
        this.pause();
      }
    });
  }

  private pullRequest(batch: number): string {
    const heartbeat = pullHeartbeatFor(this.options.ackWaitMs, this.pullExpiresMs);
    return JSON.stringify({ batch, expires: nanos(this.pullExpiresMs), idle_heartbeat: nanos(heartbeat) });
  }

  /** Ends a pull: stops listening to it and gives back what it had reserved. */
  private finish(request: PullRequest): void {
    if (request.done) return;
    request.done = true;
    clearTimeout(request.timer);
    request.sub.unsubscribe();
    this.requests.delete(request);
    const unused = request.remaining;
    request.remaining = 0;
    this.options.budget.release(unused);
    this.schedule();
  }

  private received(request: PullRequest, err: Error | null, msg: Msg): void {
    if (err) {
      this.finish(request);
      this.pause();
      return;
    }
    const info = parseDeliveryInfo(msg.reply);
    if (!info) return this.status(request, msg);
    const { budget } = this.options;
    if (request.remaining > 0) {
      request.remaining--; // the unit passes to the delivery
    } else if (budget.take(1) === 0) {
      // More than was asked for (cannot happen with a conforming server): hand it back at once.
      msg.respond(new TextEncoder().encode('-NAK'));
      return;
    }
    if (request.remaining === 0) this.finish(request);
    this.dispatch(msg, info);
  }

  private status(request: PullRequest, msg: Msg): void {
    const code = msg.headers?.code ?? 0;
    if (code === 100) return; // idle heartbeat
    this.finish(request);
    if (code === 408 || code === 404) return; // the pull expired or found nothing: pull again
    // 409 (consumer deleted, too many waiting pulls, …), 503 (no JetStream) or anything unknown: check the
    // consumer exists and pull again after a pause, not in a hot loop.
    this.ensured = false;
    this.pause();
  }

  private dispatch(msg: Msg, info: NonNullable<ReturnType<typeof parseDeliveryInfo>>): void {
    const { budget, ackWaitMs, decode, deliver } = this.options;
    let data: T;
    try {
      data = decode(msg.data);
    } catch {
      // Not ours to read (a hand-published message): never deliver it again.
      new JetStreamDelivery<null>(msg, null, info, budget, ackWaitMs).term();
      return;
    }
    const delivery = new JetStreamDelivery<T>(msg, data, info, budget, ackWaitMs);
    try {
      deliver(delivery);
    } catch {
      // A throwing handler leaves the delivery leased; the lease runs out and the server redelivers it.
    }
  }
}

export function decodeJson<T>(data: Uint8Array): T {
  return JSON.parse(decoder.decode(data)) as T;
}
