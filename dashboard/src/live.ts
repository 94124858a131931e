import { signal } from '@preact/signals';
import type { LiveEvent } from './types.js';

/** The live channel's state, shown by the indicator (`data-live`). */
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
}

type Message =
  | { op: 'subscribed'; topics: string[]; cursor: number }
  | { op: 'heartbeat'; cursor: number }
  | { op: 'reset'; topics: string[]; cursor: number; reason: string }
  | { op: 'error'; topic?: string; error: { message: string } }
  | { topic: string; cursor: number; event: LiveEvent; op?: undefined };

/**
 * One WebSocket to `/v1/live` for the tab. Remembers the newest cursor it saw; after a dropped connection it
 * reconnects (backoff up to 5 s) and subscribes again with `since`, so nothing is missed. Events are handed to
 * listeners once per animation frame.
 */
class LiveClient {
  private ws: WebSocket | null = null;
  private token: string | null = null;
  private cursor: number | null = null;
  private readonly listeners = new Set<LiveListener>();
  /** Listeners told their topics are live (once: a reconnect resumes them with `since` instead). */
  private readonly announced = new WeakSet<LiveListener>();
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
    this.cursor = null;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close();
    this.ws = null;
    liveState.value = 'connecting';
  }

  listen(listener: LiveListener): () => void {
    this.listeners.add(listener);
    this.send({ op: 'subscribe', topics: listener.topics });
    return () => {
      this.listeners.delete(listener);
      const still = new Set([...this.listeners].flatMap((l) => l.topics));
      const gone = listener.topics.filter((t) => !still.has(t));
      if (gone.length > 0) this.send({ op: 'unsubscribe', topics: gone });
    };
  }

  private connect(): void {
    if (!this.token) return;
    const url = new URL(`/v1/live?token=${encodeURIComponent(this.token)}`, location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      this.backoff = 250;
      liveState.value = 'live';
      const topics = [...new Set([...this.listeners].flatMap((l) => l.topics))];
      for (let i = 0; i < topics.length; i += 100) {
        this.send({ op: 'subscribe', topics: topics.slice(i, i + 100), ...(this.cursor === null ? {} : { since: this.cursor }) });
      }
    };
    ws.onmessage = (m) => this.receive(JSON.parse(String(m.data)) as Message);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (!this.token) return;
      liveState.value = 'reconnecting';
      this.timer = setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 5000);
    };
  }

  private send(message: unknown): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  private receive(m: Message): void {
    if (m.op === undefined) {
      this.cursor = Math.max(this.cursor ?? 0, m.cursor);
      metrics.events++;
      this.queue.push({ topic: m.topic, event: m.event, arrived: performance.now() });
      this.schedule();
      return;
    }
    if (m.op === 'heartbeat' || m.op === 'subscribed') this.cursor = Math.max(this.cursor ?? 0, m.cursor);
    if (m.op === 'subscribed') {
      for (const l of this.listeners) {
        if (this.announced.has(l) || !l.topics.some((t) => m.topics.includes(t))) continue;
        this.announced.add(l);
        l.onSubscribed?.();
      }
    }
    if (m.op === 'reset') {
      this.cursor = Math.max(this.cursor ?? 0, m.cursor);
      for (const l of this.listeners) if (l.topics.some((t) => m.topics.includes(t))) l.onReset();
      this.send({ op: 'subscribe', topics: m.topics, since: m.cursor });
    }
  }

  /** Once per frame (or every 250 ms while the tab is hidden and frames do not come). */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    if (document.hidden) setTimeout(() => this.flush(), 250);
    else requestAnimationFrame(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    for (const l of this.listeners) {
      const mine = batch.filter((q) => l.topics.includes(q.topic)).map((q) => q.event);
      if (mine.length > 0) l.onEvents(mine);
    }
    // The frame after the one these updates were rendered in: they have been painted.
    requestAnimationFrame(() => {
      const now = performance.now();
      for (const q of batch) metrics.paints.push(now - q.arrived);
      if (metrics.paints.length > PAINT_SAMPLES) metrics.paints.splice(0, metrics.paints.length - PAINT_SAMPLES);
    });
  }
}

export const live = new LiveClient();
