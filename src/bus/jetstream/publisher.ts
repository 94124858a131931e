import { JetStreamApiError, type PubAck } from '@nats-io/jetstream';
import { createInbox, MsgHdrsImpl, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { TroupeError } from '../../core/errors.js';
import { atTurnEnd } from './turn-end.js';

export interface RetryPolicy {
  /**
   * How long a publish keeps retrying while the server is unreachable before it rejects.
   * @defaultValue 30000
   */
  giveUpAfterMs: number;
  /**
   * Longest wait for one attempt's acknowledgement.
   * @defaultValue 5000
   */
  attemptTimeoutMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { giveUpAfterMs: 30_000, attemptTimeoutMs: 5_000 };

export interface StreamPublisherOptions {
  /**
   * Most publishes sent and not yet acknowledged at once (a publish backing off before a retry holds its
   * place); more wait in line, in call order.
   * @defaultValue 256
   */
  window?: number;
  /** @defaultValue {@link DEFAULT_RETRY} */
  retry?: RetryPolicy;
  /**
   * How often sent publishes are checked for an acknowledgement that is overdue.
   * @defaultValue 100
   */
  sweepMs?: number;
}

/** Backoff before the `attempt`-th retry (1-based): 50 ms doubling, at most 2 s. */
export const retryDelay = (attempt: number): number => Math.min(2_000, 50 * 2 ** (attempt - 1));

const encoder = new TextEncoder();

/**
 * The one header a publish carries, `Nats-Msg-Id`, encoded once: nats.js `headers().set()` canonicalises
 * and searches the key and re-encodes the block at every send; a retry here reuses the bytes.
 */
class MsgIdHeader extends MsgHdrsImpl {
  private bytes: Uint8Array | null = null;

  constructor(private readonly msgID: string) {
    super();
    if (/[\r\n]/.test(msgID)) throw new RangeError(`a Nats-Msg-Id cannot hold CR or LF: ${JSON.stringify(msgID)}`);
    this.headers.set('Nats-Msg-Id', [msgID]);
  }

  override encode(): Uint8Array {
    this.bytes ??= encoder.encode(`NATS/1.0\r\nNats-Msg-Id: ${this.msgID}\r\n\r\n`);
    return this.bytes;
  }
}

/** The smallest wait for one attempt's acknowledgement, even close to the give-up time. */
const MIN_ATTEMPT_MS = 500;
const decoder = new TextDecoder();

interface Entry {
  readonly id: number;
  readonly subject: string;
  readonly payload: Uint8Array;
  readonly headers: MsgHdrs;
  readonly msgID: string;
  readonly key: string | undefined;
  readonly giveUpAt: number;
  state: 'waiting' | 'sent' | 'backoff' | 'done';
  /** Attempts sent so far; the current one's number is part of its reply subject. */
  attempts: number;
  /** When the current attempt counts as lost. */
  deadline: number;
  /** The connection epoch (disconnects seen) when the current attempt was sent. */
  epoch: number;
  /** The next publish of the same key, held back until this one is settled. */
  next: Entry | null;
  timer: NodeJS.Timeout | null;
  lastError: Error | null;
  resolve(ack: PubAck): void;
  reject(err: Error): void;
}

/** A first-in first-out line without `Array.shift`'s copying. */
class Line<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

/**
 * Publishes to JetStream streams with many publishes in flight, each resolved only by its stream's
 * acknowledgement (PubAck).
 *
 * - **Pipelined:** up to `window` publishes are sent and unacknowledged at once; the rest wait in line. nats.js
 *   writes everything published in one tick to the socket in one go, so a burst costs one write, not one per
 *   message.
 * - **One reply subscription:** every publish carries `Nats-Msg-Id` and a reply subject under this publisher's
 *   own inbox (`<inbox>.<publish>.<attempt>`); one wildcard subscription takes every acknowledgement. This
 *   skips what `js.publish` (a `nc.request`) does per message: an `Error` built for its stack, a timer, a mux
 *   entry. One sweep timer finds overdue acknowledgements.
 * - **Retried with the same id:** an attempt with no acknowledgement within `attemptTimeoutMs`, answered "no
 *   responders" or JetStream 503 (nats-server restarting), is sent again after a backoff with the same
 *   `Nats-Msg-Id`, until `giveUpAfterMs`; the stream's duplicate window makes a copy of a publish that did land
 *   harmless, and its PubAck (`duplicate: true`) resolves it all the same. After a reconnect, attempts sent
 *   on the lost connection are sent again at once. A refusal (any other API error) rejects at once.
 * - **In order per key:** publishes given the same `key` are sent one at a time, in call order: the next is
 *   sent only once the one before it is acknowledged (or finally failed). So a retry can never let a later
 *   message of the key overtake an earlier one in the stream, whatever the server or the connection did
 *   in between. Publishes of different keys (and without a key) overtake each other freely.
 */
export class StreamPublisher {
  private readonly window: number;
  private readonly retry: RetryPolicy;
  private readonly sweepMs: number;
  private readonly inbox: string;
  private readonly sub: Subscription;
  /** Sent or backing off, by id: these hold the window. */
  private readonly inFlight = new Map<number, Entry>();
  private readonly ready = new Line<Entry>();
  /** The newest unsettled publish of each key. */
  private readonly tails = new Map<string, Entry>();
  private nextId = 0;
  private unsettled = 0;
  private epoch = 0;
  private sweeper: NodeJS.Timeout | null = null;
  private closedWith: Error | null = null;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly nc: NatsConnection,
    options: StreamPublisherOptions = {},
  ) {
    this.window = options.window ?? 256;
    if (!Number.isInteger(this.window) || this.window < 1) throw new RangeError(`a publish window must be a positive integer, got ${this.window}`);
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.sweepMs = options.sweepMs ?? 100;
    this.inbox = `${createInbox()}.`;
    this.sub = nc.subscribe(`${this.inbox}>`, { callback: (err, msg) => this.received(err, msg) });
    void this.watchConnection();
    void nc.closed().then(() => this.close(new TroupeError('BUS_UNAVAILABLE', 'the NATS connection is closed')));
  }

  /** Publishes sent and not yet acknowledged (at most the window). */
  get sending(): number {
    return this.inFlight.size;
  }

  /** Publishes not yet settled: sent, waiting for the window, or held behind an earlier one of their key. */
  get pending(): number {
    return this.unsettled;
  }

  /**
   * Publishes `payload` to `subject` with `Nats-Msg-Id: msgID`; resolves with the stream's acknowledgement
   * (also when the stream recognised a duplicate), rejects when it refused the message, when retries ran out,
   * or when the publisher closed first. With `key`, it reaches the stream after every earlier publish of
   * the same key.
   */
  publish(subject: string, payload: Uint8Array, msgID: string, key?: string): Promise<PubAck> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    let h: MsgHdrs;
    try {
      h = new MsgIdHeader(msgID);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return new Promise<PubAck>((resolve, reject) => {
      const entry: Entry = {
        id: this.nextId++,
        subject,
        payload,
        headers: h,
        msgID,
        key,
        giveUpAt: Date.now() + this.retry.giveUpAfterMs,
        state: 'waiting',
        attempts: 0,
        deadline: 0,
        epoch: 0,
        next: null,
        timer: null,
        lastError: null,
        resolve,
        reject,
      };
      this.unsettled++;
      if (key !== undefined) {
        const tail = this.tails.get(key);
        this.tails.set(key, entry);
        if (tail) {
          tail.next = entry; // sent when the tail settles
          return;
        }
      }
      this.ready.push(entry);
      this.pump();
    });
  }

  /** Resolves once nothing is pending (at once when nothing is). */
  idle(): Promise<void> {
    if (this.unsettled === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Rejects everything still pending with `reason` and stops listening for acknowledgements. Idempotent. */
  close(reason: Error = new TroupeError('BUS_UNAVAILABLE', 'the bus is closed')): void {
    if (this.closedWith) return;
    this.closedWith = reason;
    this.stopSweeper();
    for (const entry of [...this.inFlight.values()]) this.fail(entry, reason);
    // Failing an entry releases the next of its key into the line: fail those too.
    for (let entry = this.ready.shift(); entry; entry = this.ready.shift()) this.fail(entry, reason);
    try {
      this.sub.unsubscribe();
    } catch {
      // the connection is closed already
    }
  }

  private pump(): void {
    while (this.inFlight.size < this.window && !this.closedWith) {
      const entry = this.ready.shift();
      if (!entry) return;
      this.inFlight.set(entry.id, entry);
      this.send(entry);
    }
  }

  private send(entry: Entry): void {
    const now = Date.now();
    entry.state = 'sent';
    const attempt = ++entry.attempts;
    entry.deadline = now + Math.max(MIN_ATTEMPT_MS, Math.min(this.retry.attemptTimeoutMs, entry.giveUpAt - now));
    entry.epoch = this.epoch;
    // With everything else this turn sends: one socket write for the lot.
    atTurnEnd(() => {
      if (entry.state !== 'sent' || entry.attempts !== attempt) return; // settled, or sent again, meanwhile
      try {
        this.nc.publish(entry.subject, entry.payload, { reply: `${this.inbox}${entry.id}.${attempt}`, headers: entry.headers });
      } catch (err) {
        // Closed or draining connection, or a message larger than the server takes: no retry can help.
        this.fail(entry, err instanceof Error ? err : new Error(String(err)));
      }
    });
    this.sweeper ??= this.startSweeper();
  }

  private received(err: Error | null, msg: Msg): void {
    if (err) {
      // The inbox subscription itself failed (a permissions violation): no acknowledgement will come.
      for (const entry of [...this.inFlight.values()]) this.fail(entry, err);
      return;
    }
    const rest = msg.subject.slice(this.inbox.length);
    const dot = rest.indexOf('.');
    const entry = this.inFlight.get(Number(rest.slice(0, dot)));
    if (!entry) return; // settled already: a late or duplicate answer
    const current = Number(rest.slice(dot + 1)) === entry.attempts && entry.state === 'sent';
    const data = msg.data;
    if (data.length === 0) {
      // A status without a body: "no responders" (503) when no stream listens to the subject yet (nats-server
      // still recovering its streams), or another status; either way a retry is what can help.
      if (current) this.retryLater(entry, new TroupeError('BUS_UNAVAILABLE', `no stream answered on ${entry.subject} (status ${msg.headers?.code ?? '?'})`));
      return;
    }
    let answer: Partial<PubAck> & { error?: { code: number; err_code: number; description: string } };
    try {
      answer = JSON.parse(decoder.decode(data)) as typeof answer;
    } catch {
      return; // not an acknowledgement: the attempt's timeout decides
    }
    if (answer.error) {
      const refusal = new JetStreamApiError(answer.error);
      // 503: JetStream is momentarily unavailable (e.g. recovering after a restart): retry. Anything else
      // (a limit, a bad subject) a retry cannot fix.
      if (answer.error.code === 503) {
        if (current) this.retryLater(entry, refusal);
      } else if (current) this.fail(entry, refusal);
      return;
    }
    if (typeof answer.stream !== 'string' || typeof answer.seq !== 'number') return;
    // An acknowledgement of any attempt means the message is stored.
    this.settle(entry);
    entry.resolve({ stream: answer.stream, seq: answer.seq, duplicate: answer.duplicate === true, ...(answer.domain ? { domain: answer.domain } : {}) });
  }

  private retryLater(entry: Entry, cause: Error): void {
    entry.lastError = cause;
    if (this.nc.isClosed() || this.nc.isDraining()) return this.fail(entry, cause);
    const wait = retryDelay(entry.attempts);
    if (Date.now() + wait >= entry.giveUpAt) {
      return this.fail(
        entry,
        new TroupeError('BUS_UNAVAILABLE', `publish to ${entry.subject} (Nats-Msg-Id ${entry.msgID}) not acknowledged after ${entry.attempts} attempts: ${cause.message}`, { cause }),
      );
    }
    entry.state = 'backoff';
    entry.timer = setTimeout(() => {
      entry.timer = null;
      if (entry.state === 'backoff' && !this.closedWith) this.send(entry);
    }, wait);
  }

  private fail(entry: Entry, err: Error): void {
    if (entry.state === 'done') return;
    this.settle(entry);
    entry.reject(err);
  }

  /** Ends an entry: frees its place in the window and releases the next publish of its key. */
  private settle(entry: Entry): void {
    entry.state = 'done';
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = null;
    this.inFlight.delete(entry.id);
    this.unsettled--;
    if (entry.key !== undefined) {
      if (entry.next) this.ready.push(entry.next);
      else if (this.tails.get(entry.key) === entry) this.tails.delete(entry.key);
      entry.next = null;
    }
    if (this.inFlight.size === 0) this.stopSweeper();
    this.pump();
    if (this.unsettled === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private startSweeper(): NodeJS.Timeout {
    const timer = setInterval(() => this.sweep(), this.sweepMs);
    timer.unref();
    return timer;
  }

  private stopSweeper(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  private sweep(): void {
    const now = Date.now();
    for (const entry of [...this.inFlight.values()]) {
      if (entry.state === 'sent' && now >= entry.deadline) {
        this.retryLater(entry, new TroupeError('BUS_UNAVAILABLE', `no acknowledgement for ${entry.subject} in time`));
      }
    }
  }

  /**
   * After a reconnect, attempts sent on the lost connection are sent again at once instead of waiting out
   * their timeout: the server may never have read them. Those it did store come back as duplicates.
   */
  private async watchConnection(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (this.closedWith) break;
      if (status.type === 'disconnect') this.epoch++;
      else if (status.type === 'reconnect') {
        for (const entry of [...this.inFlight.values()]) {
          if (entry.state === 'sent' && entry.epoch < this.epoch) this.send(entry);
        }
      }
    }
  }
}
