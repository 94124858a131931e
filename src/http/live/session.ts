import type { WebSocket } from 'uWebSockets.js';
import { TroupeError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { canSee, type Principal } from '../../engine/principal.js';
import type { Store } from '../../store/store.port.js';
import type { Status } from '../../core/statuses.js';
import type { LiveHub } from './hub.js';
import { errorMessage, eventJson, eventMessage, topicsOf, type ClientMessage, type Topic, type VerdictMessage } from './protocol.js';

/** What every session shares. */
export interface SessionHost {
  hub: LiveHub;
  store: Store;
  logger: Logger;
  replayWindow: number;
  maxTopics: number;
  /** A replay waits for drain while more than this many bytes are buffered for its socket. */
  replayHighWater: number;
  /** Gives a MANUAL step's verdict for the session's principal (the coordinator's `verdict`). */
  verdict(executionId: string, index: number, body: unknown, principal: Principal): Promise<Status>;
}

/**
 * One live connection: its principal, its topics, and its subscribe/unsubscribe requests, handled one at a
 * time in the order they arrived.
 */
export class LiveSession {
  private ws: WebSocket<unknown> | null = null;
  /** Topics live on this socket, by uWS key. */
  private readonly topics = new Map<string, Topic>();
  private queue: Promise<void> = Promise.resolve();
  private waiter: (() => void) | null = null;

  constructor(
    private readonly host: SessionHost,
    readonly principal: Principal,
  ) {}

  attach(ws: WebSocket<unknown>): void {
    this.ws = ws;
  }

  /** The socket closed: pending work stops at its next step. */
  detach(): void {
    this.ws = null;
    this.drained();
  }

  send(text: string): void {
    this.ws?.send(text);
  }

  drained(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }

  enqueue(message: ClientMessage): void {
    this.queue = this.queue
      .then(() => {
        if (message.op === 'subscribe') return this.subscribe(message.topics, message.since);
        if (message.op === 'unsubscribe') return this.unsubscribe(message.topics);
        return this.verdict(message);
      })
      .catch((err: unknown) => {
        if (!(err instanceof TroupeError)) this.host.logger.error({ err }, 'live channel: request failed');
        this.send(errorMessage(err instanceof TroupeError ? err : new TroupeError('INTERNAL')));
      });
  }

  /** The verdict's answer comes once the execution has moved on; the step itself arrives as a step event. */
  private async verdict(message: VerdictMessage): Promise<void> {
    const { op: _op, executionId, index, ...body } = message;
    try {
      const status = await this.host.verdict(executionId, index, body, this.principal);
      this.send(JSON.stringify({ op: 'verdict', executionId, index, status }));
    } catch (err) {
      if (!(err instanceof TroupeError)) throw err;
      this.send(JSON.stringify({ op: 'error', executionId, index, ...err.toJSON() }));
    }
  }

  private unsubscribe(topics: Topic[]): void {
    for (const t of topics) {
      if (this.topics.delete(t.key)) this.ws?.unsubscribe(t.key);
    }
    this.send(JSON.stringify({ op: 'unsubscribed', topics: topics.map((t) => t.name) }));
  }

  private async subscribe(topics: Topic[], since: number | undefined): Promise<void> {
    const already = topics.filter((t) => this.topics.has(t.key));
    const fresh = topics.filter((t) => !this.topics.has(t.key));
    if (this.topics.size + fresh.length > this.host.maxTopics) {
      const message = `a connection may hold at most ${this.host.maxTopics} topics; it holds ${this.topics.size}`;
      throw new TroupeError('VALIDATION_FAILED', message);
    }
    const visible = await Promise.all(fresh.map((t) => this.visible(t)));
    const allowed: Topic[] = [];
    fresh.forEach((t, i) => {
      if (visible[i]) allowed.push(t);
      // Someone else's topic answers exactly like a missing id.
      else this.send(errorMessage(new TroupeError('NOT_FOUND', `${t.kind} ${t.id} not found`), t.name));
    });
    if (!this.ws) return;
    if (since === undefined || allowed.length === 0) this.goLive(topics, allowed, already);
    else await this.replay(topics, allowed, already, since);
  }

  private async visible(t: Topic): Promise<boolean> {
    const { store, hub } = this.host;
    if (t.kind === 'user') return canSee(this.principal, t.id);
    if (t.kind === 'run') {
      const run = await store.getRun(t.id);
      return run !== null && canSee(this.principal, run.owner);
    }
    const execution = await store.getExecution(t.id);
    if (!execution) return false;
    hub.rememberOwner(execution.id, execution.owner);
    return canSee(this.principal, execution.owner);
  }

  /**
   * Sends the topics' events after `since`, then joins them live. Each pass reads up to the hub's published
   * cursor at its start; when a pass ends with nothing newer published, the topics are subscribed in that same
   * tick, so the first live message is the first event after the last one replayed.
   */
  private async replay(requested: Topic[], allowed: Topic[], already: Topic[], since: number): Promise<void> {
    const { hub, replayWindow } = this.host;
    if (since > hub.cursor) await hub.catchUp();
    if (!this.ws) return;
    if (since > hub.cursor || hub.cursor - since > replayWindow) {
      const reason =
        since > hub.cursor ? `cursor ${since} is newer than the newest event` : `cursor ${since} is older than the ${replayWindow} events retained`;
      this.send(JSON.stringify({ op: 'reset', topics: allowed.map((t) => t.name), cursor: hub.cursor, reason }));
      this.goLive(requested, [], already);
      return;
    }
    const keys = new Set(allowed.map((t) => t.key));
    let upTo = since;
    for (let target = hub.cursor; upTo < target; target = hub.cursor) {
      while (upTo < target) {
        const entries = await hub.read(upTo);
        if (!this.ws) return;
        if (entries.length === 0) upTo = target;
        for (const { event: e, owner } of entries) {
          if (e.cursor > target) {
            upTo = target;
            break;
          }
          let json: string | undefined;
          for (const t of topicsOf(e, owner)) {
            if (!keys.has(t.key)) continue;
            json ??= eventJson(e);
            this.send(eventMessage(t.name, e.cursor, json));
          }
          upTo = e.cursor;
          if (!(await this.belowHighWater())) return;
        }
      }
    }
    // No await since the loop's last look at hub.cursor.
    this.goLive(requested, allowed, already);
  }

  /** Waits for drain while the socket's backlog is above the replay high-water mark; false once it closed. */
  private async belowHighWater(): Promise<boolean> {
    while (this.ws && this.ws.getBufferedAmount() > this.host.replayHighWater) {
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
    return this.ws !== null;
  }

  /** Subscribes `allowed` and acknowledges them with `already`, in the order they were `requested`. */
  private goLive(requested: Topic[], allowed: Topic[], already: Topic[]): void {
    const ws = this.ws;
    if (!ws || allowed.length + already.length === 0) return;
    for (const t of allowed) {
      ws.subscribe(t.key);
      this.topics.set(t.key, t);
    }
    const acked = new Set([...allowed, ...already]);
    const names = requested.filter((t) => acked.has(t)).map((t) => t.name);
    ws.send(JSON.stringify({ op: 'subscribed', topics: names, cursor: this.host.hub.cursor }));
  }
}
