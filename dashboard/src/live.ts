import { signal } from '@preact/signals';
import type { LiveEvent } from './types.js';

/** The live channel's state, shown by the indicator (`data-live`): `live` once the topics are subscribed. */
export const liveState = signal<'connecting' | 'live' | 'reconnecting'>('connecting');

/** Measurements a browser check reads: ms from a live event's arrival to the frame that painted it. */
const PAINT_SAMPLES = 20_000;
const metrics = { paints: [] as number[], events: 0 };
(window as unknown as { __troupe: typeof metrics }).__troupe = metrics;

export interface LiveListener {
  topics: string[];
  /** Events on the listener's topics, in cursor order, a frame's worth at a time. */
  onEvents(events: LiveEvent[]): void;
  /** The server could not replay what was missed: reload the state over REST (the topics are subscribed again). */
  onReset(): void;
  /** The topics are live (first subscribe): load the state over REST now; events after this are delivered. */
  onSubscribed?(): void;
  /**
   * The server refused a topic (unknown, not visible), or the live channel cannot be reached before the listener's
   * topics were ever live (off, full, or a proxy that drops the upgrade): show the state over REST meanwhile.
   */
  onError?(message: string): void;
}

type Message =
  | { op: 'subscribed'; topics: string[]; cursor: number }
  | { op: 'heartbeat'; cursor: number }
  | { op: 'reset'; topics: string[]; cursor: number; reason: string }
  | { op: 'error'; topic?: string; error: { message: string } }
  | { topic: string; cursor: number; event: LiveEvent; op?: undefined };

/** Where a topic stands: the newest cursor known delivered on it, and whether it is subscribed (replay done). */
interface TopicState {
  cursor: number | null;
  live: boolean;
}

/**
 * One WebSocket to `/v1/live` for the tab. Each topic keeps its own cursor (docs/api.md, resuming): moved by its
 * events, by the `subscribed` that ends its replay, and by heartbeats once it is live. After a dropped connection
 * the client reconnects (backoff up to 5 s) and subscribes each topic again with its `since`; a `reset` makes the
 * listeners reload and resubscribes from the cursor it names. Events reach listeners once per animation frame.
 */
class LiveClient {
  private ws: WebSocket | null = null;
  private token: string | null = null;
  private readonly topics = new Map<string, TopicState>();
  private readonly listeners = new Set<LiveListener>();
  /** Listeners told their topics are live (once: a reconnect resumes them with `since` instead). */
  private readonly announced = new WeakSet<LiveListener>();
  /** Listeners not yet live that were told the channel cannot be reached (once; `announce` follows if it comes back). */
  private readonly toldOffline = new WeakSet<LiveListener>();
  private queue: { topic: string; event: LiveEvent; arrived: number }[] = [];
  private scheduled = false;
  private backoff = 250;
  private timer: ReturnType<typeof setTimeout> | null = null;

  start(token: string): void {
    this.token = token;
    this.connect();
  }

  stop(): void {
    this.token = null;
    this.topics.clear();
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close();
    this.ws = null;
    liveState.value = 'connecting';
  }

  listen(listener: LiveListener): () => void {
    this.listeners.add(listener);
    const added = listener.topics.filter((t) => !this.topics.has(t));
    for (const t of added) this.topics.set(t, { cursor: null, live: false });
    if (added.length > 0) this.send({ op: 'subscribe', topics: added });
    // Topics already live for another listener: this one may load now.
    else if (listener.topics.every((t) => this.topics.get(t)?.live)) this.announce(listener);
    return () => {
      this.listeners.delete(listener);
      const still = new Set([...this.listeners].flatMap((l) => l.topics));
      const gone = listener.topics.filter((t) => !still.has(t));
      for (const t of gone) this.topics.delete(t);
      if (gone.length > 0) this.send({ op: 'unsubscribe', topics: gone });
    };
  }

  private announce(listener: LiveListener): void {
    if (this.announced.has(listener)) return;
    this.announced.add(listener);
    listener.onSubscribed?.();
  }

  private connect(): void {
    if (!this.token) return;
    const url = new URL(`/v1/live?token=${encodeURIComponent(this.token)}`, location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      this.backoff = 250;
      if (this.topics.size === 0) liveState.value = 'live';
      // Each topic from its own cursor: grouped, at most 100 topics a message.
      const bySince = new Map<number | null, string[]>();
      for (const [topic, state] of this.topics) {
        state.live = false;
        bySince.set(state.cursor, [...(bySince.get(state.cursor) ?? []), topic]);
      }
      for (const [since, topics] of bySince) {
        for (let i = 0; i < topics.length; i += 100) this.send({ op: 'subscribe', topics: topics.slice(i, i + 100), ...(since === null ? {} : { since }) });
      }
    };
    ws.onmessage = (m) => this.receive(JSON.parse(String(m.data)) as Message);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      for (const state of this.topics.values()) state.live = false;
      if (!this.token) return;
      liveState.value = 'reconnecting';
      for (const l of this.listeners) {
        if (this.announced.has(l) || this.toldOffline.has(l)) continue;
        this.toldOffline.add(l);
        l.onError?.('the live channel cannot be reached; retrying');
      }
      this.timer = setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 5000);
    };
  }

  private send(message: unknown): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  private advance(topic: string, cursor: number): void {
    const state = this.topics.get(topic);
    if (state) state.cursor = Math.max(state.cursor ?? 0, cursor);
  }

  private receive(m: Message): void {
    if (m.op === undefined) {
      this.advance(m.topic, m.cursor);
      metrics.events++;
      this.queue.push({ topic: m.topic, event: m.event, arrived: performance.now() });
      this.schedule();
      return;
    }
    switch (m.op) {
      case 'heartbeat':
        // Everything up to it on the live topics came before it; a topic still replaying is not moved.
        for (const [topic, state] of this.topics) if (state.live) this.advance(topic, m.cursor);
        return;
      case 'subscribed':
        for (const topic of m.topics) {
          this.advance(topic, m.cursor);
          const state = this.topics.get(topic);
          if (state) state.live = true;
        }
        liveState.value = 'live';
        for (const l of this.listeners) if (l.topics.some((t) => m.topics.includes(t))) this.announce(l);
        return;
      case 'reset':
        // The server's log does not reach our cursor (restored data) or no longer holds it: start from its own.
        for (const topic of m.topics) {
          const state = this.topics.get(topic);
          if (state) state.cursor = m.cursor;
        }
        for (const l of this.listeners) if (l.topics.some((t) => m.topics.includes(t))) l.onReset();
        this.send({ op: 'subscribe', topics: m.topics, since: m.cursor });
        return;
      case 'error':
        for (const l of this.listeners) if (m.topic === undefined || l.topics.includes(m.topic)) l.onError?.(m.error.message);
        return;
    }
  }

  /** Once per frame, or after 250 ms when frames do not come (a hidden tab): whichever is first. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const timer = setTimeout(() => this.flush(), 250);
    requestAnimationFrame(() => {
      clearTimeout(timer);
      this.flush();
    });
  }

  private flush(): void {
    if (!this.scheduled) return;
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    for (const l of this.listeners) {
      const mine = batch.filter((q) => l.topics.includes(q.topic)).map((q) => q.event);
      if (mine.length > 0) l.onEvents(mine);
    }
    // The frame after the one these updates were rendered in: they have been painted. (A hidden tab paints nothing:
    // nothing is measured, and no callback holding the batch waits for it.)
    if (document.hidden) return;
    requestAnimationFrame(() => {
      const now = performance.now();
      for (const q of batch) metrics.paints.push(now - q.arrived);
      if (metrics.paints.length > PAINT_SAMPLES) metrics.paints.splice(0, metrics.paints.length - PAINT_SAMPLES);
    });
  }
}

export const live = new LiveClient();
