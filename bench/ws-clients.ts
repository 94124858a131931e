/**
 * The subscribers of ws-fanout.bench.ts, run as a forked child (advanced IPC serialisation): `ws` clients that
 * count the event messages they receive and record, per message, receive time − `event.at`. An event message
 * is `{"topic":…,"cursor":…,"event":{…,"at":"<ISO>",…}}`; anything else (acks, heartbeats) is not counted.
 */
import { WebSocket } from 'ws';
import { preciseNow } from './common.js';

export type ToClients =
  | { op: 'connect'; url: string; headers: Record<string, string>; count: number }
  /** Sends `text` on every socket; with `ack`, waits until each socket received a message starting with it. */
  | { op: 'send'; text: string; ack: string | null }
  /** Resets the counters; `done` is sent once every socket has `expected` events, or after `idleMs` without one. */
  | { op: 'arm'; expected: number; idleMs: number }
  | { op: 'close' };

export interface Collected {
  /** Event messages received, all sockets. */
  received: number;
  /** Sockets that received all `expected` events. */
  complete: number;
  /** Receive time − event.at, ms, one per event message (event.at has millisecond resolution). */
  latencies: Float64Array;
  /** Earliest and latest event.at seen, and the last receive time, epoch ms. */
  firstAt: number;
  lastAt: number;
  lastReceive: number;
  /** One message as received, a template for the peer. */
  sample: string;
  /** Sockets closed by the server while armed. */
  closed: number;
  /** CPU of this process (all threads) from arm to done, ms. */
  cpuMs: number;
}

export type FromClients = { op: 'ok' } | { op: 'done'; collected: Collected } | { op: 'error'; message: string };

const EVENT_PREFIX = '{"topic":';
const AT = '"at":"';

const sockets: WebSocket[] = [];
const counts: number[] = [];
let armed: { expected: number; idleMs: number; cpu: NodeJS.CpuUsage; idle: NodeJS.Timeout | null } | null = null;
let c: Omit<Collected, 'cpuMs'> = fresh(0);
let lastAtText = '';
let lastAtValue = 0;
let pendingAcks: { prefix: string; left: number; resolve: () => void; reject: (err: Error) => void } | null = null;

function fresh(size: number): Omit<Collected, 'cpuMs'> {
  return { received: 0, complete: 0, latencies: new Float64Array(size), firstAt: Infinity, lastAt: -Infinity, lastReceive: 0, sample: '', closed: 0 };
}

const reply = (message: FromClients): void => {
  process.send?.(message);
};

function finish(): void {
  if (!armed) return;
  if (armed.idle) clearTimeout(armed.idle);
  const used = process.cpuUsage(armed.cpu);
  armed = null;
  reply({ op: 'done', collected: { ...c, latencies: c.latencies.slice(0, c.received), cpuMs: Math.round((used.user + used.system) / 1000) } });
}

function onMessage(index: number, text: string): void {
  if (!text.startsWith(EVENT_PREFIX)) {
    if (!pendingAcks) return;
    if (text.startsWith(pendingAcks.prefix) && --pendingAcks.left === 0) pendingAcks.resolve();
    else if (text.startsWith('{"op":"error"')) pendingAcks.reject(new Error(`socket ${index} was answered ${text}`));
    return;
  }
  if (!armed) return;
  const now = preciseNow();
  const i = text.indexOf(AT);
  const atText = text.slice(i + AT.length, i + AT.length + 24);
  if (atText !== lastAtText) {
    lastAtText = atText;
    lastAtValue = Date.parse(atText);
  }
  if (c.received === 0) c.sample = text;
  if (c.received < c.latencies.length) c.latencies[c.received] = now - lastAtValue;
  c.received++;
  c.lastReceive = now;
  if (lastAtValue < c.firstAt) c.firstAt = lastAtValue;
  if (lastAtValue > c.lastAt) c.lastAt = lastAtValue;
  const count = (counts[index] ?? 0) + 1;
  counts[index] = count;
  if (count === armed.expected && ++c.complete === sockets.length) return finish();
  if (armed.idle) armed.idle.refresh();
  else armed.idle = setTimeout(finish, armed.idleMs);
}

async function connect(url: string, headers: Record<string, string>, count: number): Promise<void> {
  const batch = 100;
  for (let start = 0; start < count; start += batch) {
    const opened = Array.from({ length: Math.min(batch, count - start) }, () => {
      const index = sockets.length;
      const ws = new WebSocket(url, { headers, perMessageDeflate: false, handshakeTimeout: 15_000 });
      sockets.push(ws);
      counts.push(0);
      ws.on('message', (data: Buffer, isBinary) => {
        if (!isBinary) onMessage(index, data.toString('utf8'));
      });
      ws.on('close', (code, reason) => {
        if (armed) c.closed++;
        pendingAcks?.reject(new Error(`socket ${index} closed: ${code} ${reason.toString()}`));
      });
      return new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', (err) => reject(new Error(`socket ${index}: ${err.message}`)));
        ws.once('close', (code, reason) => reject(new Error(`socket ${index} closed before open: ${code} ${reason.toString()}`)));
      });
    });
    await Promise.all(opened);
  }
}

async function handle(message: ToClients): Promise<void> {
  switch (message.op) {
    case 'connect':
      await connect(message.url, message.headers, message.count);
      break;
    case 'send': {
      const acked = message.ack === null ? Promise.resolve() : new Promise<void>((resolve, reject) => {
        pendingAcks = { prefix: message.ack as string, left: sockets.length, resolve, reject };
      });
      const timer = setTimeout(() => pendingAcks?.reject(new Error(`${pendingAcks.left} socket(s) not answered in 30 s`)), 30_000);
      for (const ws of sockets) ws.send(message.text);
      try {
        await acked;
      } finally {
        clearTimeout(timer);
        pendingAcks = null;
      }
      break;
    }
    case 'arm':
      counts.fill(0);
      c = fresh(message.expected * sockets.length);
      armed = { expected: message.expected, idleMs: message.idleMs, cpu: process.cpuUsage(), idle: null };
      break;
    case 'close':
      await Promise.all(sockets.map((ws) => new Promise<void>((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        ws.once('close', () => resolve());
        ws.close(1000);
      })));
      sockets.length = 0;
      counts.length = 0;
      break;
  }
  reply({ op: 'ok' });
}

process.on('message', (message: ToClients) => {
  handle(message).catch((err: unknown) => reply({ op: 'error', message: err instanceof Error ? err.message : String(err) }));
});
process.on('disconnect', () => process.exit(0));
