import WebSocket from 'ws';
import type { LogEntry } from '../../src/store/store.port.js';
import { waitFor } from '../helpers/wait.js';

/** A server → client message on the live channel, parsed. */
export interface LiveMessage {
  op?: 'subscribed' | 'unsubscribed' | 'error' | 'reset' | 'heartbeat';
  topic?: string;
  topics?: string[];
  cursor?: number;
  reason?: string;
  event?: {
    type: string;
    executionId: string;
    runId: string | null;
    /** Transition events. */
    seq: number;
    from: string | null;
    to: string;
    event: string;
    at: string;
    attempt: number;
    reason: string | null;
    /** Step events. */
    index?: number;
    name?: string;
    status?: string;
  };
  error?: { code: string; message: string; details: unknown };
}

export interface Credentials {
  /** Sent as `Authorization: Bearer <token>`. */
  header?: string;
  /** Sent as the `token` query parameter. */
  query?: string;
}

/** The text of a `ws` message. */
export function rawText(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return (data instanceof ArrayBuffer ? Buffer.from(data) : data).toString('utf8');
}

function liveUrl(base: string, credentials: Credentials): string {
  return `${base}/v1/live${credentials.query === undefined ? '' : `?token=${encodeURIComponent(credentials.query)}`}`;
}

function headers(credentials: Credentials): Record<string, string> {
  return credentials.header === undefined ? {} : { authorization: `Bearer ${credentials.header}` };
}

/** A `ws` client that records every message and how the socket closed. */
export class LiveClient {
  readonly messages: LiveMessage[] = [];
  closed: { code: number; reason: string } | null = null;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => {
      if (!isBinary) this.messages.push(JSON.parse(rawText(data)) as LiveMessage);
    });
    socket.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
    socket.on('error', () => {
      // surfaced through `closed`
    });
  }

  /**
   * Connects and waits for a pong, so the connection is known to carry frames. Known issue: now and then
   * uWebSockets.js drops a freshly upgraded socket (1006, no frame received; about one in ten runs of the auth
   * file on this machine). Clients reconnect — `troupe run --server` does, with `since` — and so does this
   * helper, at most twice, only for that case.
   */
  static async connect(base: string, credentials: Credentials): Promise<LiveClient> {
    for (let attempt = 1; ; attempt++) {
      const client = await LiveClient.open(base, credentials);
      const alive = await new Promise<boolean>((resolve) => {
        client.socket.once('pong', () => resolve(true));
        client.socket.once('close', () => resolve(false));
        client.socket.ping();
      });
      if (alive) return client;
      if (attempt === 3 || client.closed?.code !== 1006) throw new Error(`closed ${JSON.stringify(client.closed)} right after the upgrade`);
    }
  }

  private static open(base: string, credentials: Credentials): Promise<LiveClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(liveUrl(base, credentials), { headers: headers(credentials) });
      const client = new LiveClient(socket);
      socket.once('open', () => resolve(client));
      socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
      socket.once('error', reject);
    });
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Sends a subscribe and resolves with its acknowledgement or the first error/reset after it. */
  async subscribe(topics: string[], since?: number): Promise<LiveMessage> {
    const from = this.messages.length;
    this.send({ op: 'subscribe', topics, ...(since === undefined ? {} : { since }) });
    return this.next((m) => m.op === 'subscribed' || m.op === 'reset' || m.op === 'error', 'an answer to subscribe', from);
  }

  /** The first message at or after index `from` that matches. */
  next(match: (m: LiveMessage) => boolean, what: string, from = 0): Promise<LiveMessage> {
    return waitFor(() => this.messages.slice(from).find(match) ?? (this.closed ? Promise.reject(new Error(`closed ${JSON.stringify(this.closed)} while waiting for ${what}`)) : undefined), what);
  }

  /** Event messages (those with a topic), optionally on one topic. */
  events(topic?: string): LiveMessage[] {
    return this.messages.filter((m) => m.event !== undefined && (topic === undefined || m.topic === topic));
  }

  waitClosed(): Promise<{ code: number; reason: string }> {
    return waitFor(() => this.closed, 'the socket to close');
  }

  close(): void {
    this.socket.close();
  }
}

/** The error shape of a refused upgrade (or its raw text when it is not JSON). */
export interface ErrorBody {
  error: { code: string; message: string; details: unknown };
}

/** Tries an upgrade that is expected to be refused; resolves with the HTTP answer. */
export function refusedUpgrade(
  base: string,
  credentials: Credentials,
): Promise<{ status: number; headers: Record<string, string>; body: ErrorBody }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(liveUrl(base, credentials), { headers: headers(credentials) });
    socket.once('open', () => {
      socket.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    socket.once('unexpected-response', (req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        req.destroy();
        const text = Buffer.concat(chunks).toString();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // keep the text
        }
        const headers = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, String(v)]));
        resolve({ status: res.statusCode ?? 0, headers, body: body as ErrorBody });
      });
    });
    socket.once('error', () => {
      // after unexpected-response ws emits an error as it aborts; the answer was already taken
    });
  });
}

/** A delivered or stored event reduced to what identifies it: `transition <seq> <to>` or `step <attempt>.<index> <status>`. */
export interface Seen {
  cursor: number;
  executionId: string;
  what: string;
}

/** The live view of the stored log on `topic`: what a subscriber must receive, in order. */
export function expectedOn(topic: string, events: LogEntry[], owners: Map<string, string>): Seen[] {
  const [kind, id] = [topic.slice(0, topic.indexOf(':')), topic.slice(topic.indexOf(':') + 1)];
  return events
    .filter((e) =>
      kind === 'execution' ? e.executionId === id : kind === 'run' ? e.runId === id : owners.get(e.executionId) === id,
    )
    .map((e) => ({
      cursor: e.cursor,
      executionId: e.executionId,
      what:
        e.kind === 'transition'
          ? `transition ${e.record.seq} ${e.record.to}`
          : `step ${e.step.attempt}.${e.step.index} ${e.step.status}`,
    }));
}

/** What a client received on `topic`, in the same shape as `expectedOn`. */
export function receivedOn(messages: LiveMessage[], topic: string): Seen[] {
  return messages
    .filter((m) => m.event !== undefined && m.topic === topic)
    .map((m) => {
      const e = m.event!;
      const what = e.type === 'step' ? `step ${e.attempt}.${e.index} ${e.status}` : `transition ${e.seq} ${e.to}`;
      return { cursor: m.cursor!, executionId: e.executionId, what };
    });
}
