/**
 * The subscribers of the live-channel scenarios (ws-fanout, ws-steady), run as a forked child (advanced IPC
 * serialisation): `ws` clients that count the event messages they receive, by event type, check per socket
 * that they arrive once each and in cursor order, and record, per transition message, receive time −
 * `event.at`. An event message is `{"topic":…,"cursor":…,"event":{"type":"transition"|"step",…}}`; anything
 * else (acks, heartbeats) is not counted. Step events carry no `at`, so only transitions are timed.
 *
 * A round: `arm` (counters reset), the parent makes the server (or the peer) send, then `expect` with the
 * cursors that were sent on the topic; each socket is owed those after the cursor its subscription was
 * acknowledged with (all of them for the peer, whose sockets never subscribe). `done` comes once every socket
 * has as many as it is owed, or after `idleMs` without a message.
 */
import { WebSocket } from 'ws';
import { preciseNow } from './common.js';
import { bucketOf, newHistogram } from './histogram.js';

export type ToClients =
  | { op: 'connect'; url: string; headers: Record<string, string>; count: number }
  /** Sends `text` on every socket; with `ack`, waits until each socket received a message starting with it. */
  | { op: 'send'; text: string; ack: string | null }
  /** Resets the counters; with `record`, keeps the text of every event message the first socket receives. */
  | { op: 'arm'; record: boolean }
  /** The cursors sent on the topic, ascending; `done` once every socket has its share, or after `idleMs` idle. */
  | { op: 'expect'; cursors: number[]; idleMs: number }
  | { op: 'close' };

export interface Collected {
  /** Event messages received, all sockets, and of them transition and step events. */
  received: number;
  transitions: number;
  steps: number;
  /** Sockets that received exactly the messages owed, each once, in cursor order. */
  exact: number;
  /** Sockets that received fewer than owed, more than owed, or any message not after the one before it. */
  short: number;
  long: number;
  disordered: number;
  /** Messages owed, all sockets. */
  owed: number;
  /** Receive time − event.at of transition messages, ms (event.at has millisecond resolution): a histogram. */
  histogram: Uint32Array;
  max: number;
  /** The same, one histogram (and maximum) per second of event.at (epoch seconds). */
  perSecond: Map<number, { histogram: Uint32Array; max: number }>;
  /** Earliest and latest event.at seen, and the first and last receive times, epoch ms. */
  firstAt: number;
  lastAt: number;
  firstReceive: number;
  lastReceive: number;
  /** With `record`: the first socket's event messages, as received. */
  texts: string[];
  /** Sockets closed by the server while armed. */
  closed: number;
  /** CPU of this process (all threads) from arm to done, ms. */
  cpuMs: number;
}

export type FromClients = { op: 'ok' } | { op: 'done'; collected: Collected } | { op: 'error'; message: string };

const EVENT_PREFIX = '{"topic":';
const CURSOR = '"cursor":';
const TYPE = '"event":{"type":"';
const AT = '"at":"';
const SUBSCRIBED = '{"op":"subscribed"';
const CURSOR_BYTES = Buffer.from(CURSOR);
const TYPE_BYTES = Buffer.from(TYPE);
const AT_BYTES = Buffer.from(AT);
const T = 't'.charCodeAt(0);
const S = 's'.charCodeAt(0);

/** Per socket: messages, last cursor, a hash of the cursor sequence, out-of-order count, subscription cursor. */
interface SocketState {
  count: number;
  last: number;
  hash: number;
  disorder: number;
  from: number;
  /** What this socket is owed, once `expect` came. */
  owed: Owed | null;
  reached: boolean;
}

interface Owed {
  count: number;
  hash: number;
}

/** FNV-1a style step over a cursor: equal sequences give equal hashes, a reordering or duplicate almost never. */
const step = (hash: number, cursor: number): number => Math.imul(hash ^ (cursor | 0), 0x01000193) >>> 0;
const HASH_SEED = 0x811c9dc5;

const sockets: WebSocket[] = [];
const state: SocketState[] = [];
let armed: { cpu: NodeJS.CpuUsage; record: boolean; idleMs: number; idle: NodeJS.Timeout | null; expecting: boolean } | null = null;
let c = fresh();
let reachedCount = 0;
let lastAtText = '';
let lastAtValue = 0;
let pendingAcks: { prefix: string; left: number; answered: Set<number>; resolve: () => void; reject: (err: Error) => void } | null = null;
/** Per socket, the last message received, when it opened and how it closed (for reports of what went wrong). */
const lastMessage: Buffer[] = [];
const openedAt: number[] = [];
const closes: string[] = [];
const errors: string[] = [];
/** The per-second slice of the last transition timed (consecutive messages mostly fall in the same second). */
let lastSecond = Number.NaN;
let lastSlice: { histogram: Uint32Array; max: number } | null = null;

type Counters = Omit<Collected, 'cpuMs' | 'exact' | 'short' | 'long' | 'disordered' | 'owed'>;

function fresh(): Counters {
  return {
    received: 0,
    transitions: 0,
    steps: 0,
    histogram: newHistogram(),
    max: 0,
    perSecond: new Map(),
    firstAt: Infinity,
    lastAt: -Infinity,
    firstReceive: 0,
    lastReceive: 0,
    texts: [],
    closed: 0,
  };
}

const reply = (message: FromClients): void => {
  process.send?.(message);
};

function finish(): void {
  if (!armed) return;
  if (armed.idle) clearTimeout(armed.idle);
  const used = process.cpuUsage(armed.cpu);
  armed = null;
  let exact = 0;
  let short = 0;
  let long = 0;
  let disordered = 0;
  let owed = 0;
  for (const s of state) {
    const o = s.owed ?? { count: 0, hash: HASH_SEED };
    owed += o.count;
    if (s.disorder > 0) disordered++;
    if (s.count < o.count) short++;
    else if (s.count > o.count) long++;
    else if (s.hash === o.hash && s.disorder === 0) exact++;
  }
  const cpuMs = Math.round((used.user + used.system) / 1000);
  reply({ op: 'done', collected: { ...c, exact, short, long, disordered, owed, cpuMs } });
}

/** Counts towards `done`: this socket now has every message it is owed. */
function check(s: SocketState): void {
  if (s.reached || s.owed === null || s.count < s.owed.count) return;
  s.reached = true;
  if (++reachedCount === sockets.length) finish();
}

function parseCursor(data: Buffer, from: number): number {
  let value = 0;
  for (let i = from; i < data.length; i++) {
    const d = (data[i] ?? 0) - 48;
    if (d < 0 || d > 9) break;
    value = value * 10 + d;
  }
  return value;
}

/** Handles a request's answer (anything but an event message). */
function onReply(index: number, s: SocketState, text: string): void {
  if (text.startsWith(SUBSCRIBED)) s.from = (JSON.parse(text) as { cursor: number }).cursor;
  if (!pendingAcks) return;
  if (text.startsWith(pendingAcks.prefix) && !pendingAcks.answered.has(index)) {
    pendingAcks.answered.add(index);
    if (--pendingAcks.left === 0) pendingAcks.resolve();
  } else if (text.startsWith('{"op":"error"')) pendingAcks.reject(new Error(`socket ${index} was answered ${text}`));
}

/**
 * One message. Event messages are read from the bytes (no string made of the whole message, so the client's
 * own cost per message stays small: with 999 sockets in one process it is what limits the delivered rate).
 */
function onMessage(index: number, data: Buffer): void {
  const s = state[index];
  if (!s) return;
  lastMessage[index] = data;
  // `{"topic":…` against `{"op":…`
  if (data[2] !== T) return onReply(index, s, data.toString('utf8'));
  if (!armed) return;
  const now = preciseNow();
  const cursorAt = data.indexOf(CURSOR_BYTES, EVENT_PREFIX.length);
  const cursor = parseCursor(data, cursorAt + CURSOR.length);
  if (cursor <= s.last) s.disorder++;
  s.last = cursor;
  s.hash = step(s.hash, cursor);
  s.count++;
  if (c.received === 0) c.firstReceive = now;
  c.received++;
  c.lastReceive = now;
  if (armed.record && index === 0) c.texts.push(data.toString('utf8'));
  const typeAt = data.indexOf(TYPE_BYTES, cursorAt);
  const kind = typeAt < 0 ? 0 : data[typeAt + TYPE.length];
  if (kind === T) {
    c.transitions++;
    const i = data.indexOf(AT_BYTES, typeAt) + AT.length;
    const atText = data.toString('latin1', i, i + 24);
    if (atText !== lastAtText) {
      lastAtText = atText;
      lastAtValue = Date.parse(atText);
    }
    const ms = now - lastAtValue;
    const bucket = bucketOf(ms);
    c.histogram[bucket] = (c.histogram[bucket] ?? 0) + 1;
    if (ms > c.max) c.max = ms;
    const second = Math.floor(lastAtValue / 1000);
    if (second !== lastSecond || !lastSlice) {
      lastSecond = second;
      lastSlice = c.perSecond.get(second) ?? null;
      if (!lastSlice) c.perSecond.set(second, (lastSlice = { histogram: newHistogram(), max: 0 }));
    }
    lastSlice.histogram[bucket] = (lastSlice.histogram[bucket] ?? 0) + 1;
    if (ms > lastSlice.max) lastSlice.max = ms;
    if (lastAtValue < c.firstAt) c.firstAt = lastAtValue;
    if (lastAtValue > c.lastAt) c.lastAt = lastAtValue;
  } else if (kind === S) {
    c.steps++;
  }
  if (armed.expecting) {
    check(s);
    if (!armed) return;
    armed.idle?.refresh();
  }
}

/** What a socket subscribed at cursor `from` is owed: the cursors after it. */
function owedAfter(cursors: number[], from: number, cache: Map<number, Owed>): Owed {
  let owed = cache.get(from);
  if (owed) return owed;
  owed = { count: 0, hash: HASH_SEED };
  for (const cursor of cursors) {
    if (cursor <= from) continue;
    owed.count++;
    owed.hash = step(owed.hash, cursor);
  }
  cache.set(from, owed);
  return owed;
}

async function connect(url: string, headers: Record<string, string>, count: number): Promise<void> {
  const batch = 100;
  for (let start = 0; start < count; start += batch) {
    const opened = Array.from({ length: Math.min(batch, count - start) }, () => {
      const index = sockets.length;
      const ws = new WebSocket(url, { headers, perMessageDeflate: false, handshakeTimeout: 15_000 });
      sockets.push(ws);
      state.push({ count: 0, last: -1, hash: HASH_SEED, disorder: 0, from: -1, owed: null, reached: false });
      ws.on('message', (data: Buffer, isBinary) => {
        if (!isBinary) onMessage(index, data);
      });
      ws.on('error', (err) => {
        errors[index] = err.message;
      });
      ws.on('close', (code, reason) => {
        if (armed) c.closed++;
        const opened = openedAt[index];
        const error = errors[index] === undefined ? '' : `, after the error "${errors[index]}"`;
        closes[index] = `code ${code}${reason.length ? ` (${reason.toString()})` : ''}${opened === undefined ? '' : ` ${Math.round(performance.now() - opened)} ms after it opened`}${error}`;
        pendingAcks?.reject(new Error(`socket ${index} closed: ${closes[index]}`));
      });
      return new Promise<void>((resolve, reject) => {
        ws.once('open', () => {
          openedAt[index] = performance.now();
          resolve();
        });
        ws.once('error', (err) => reject(new Error(`socket ${index}: ${err.message}`)));
        ws.once('close', (code, reason) => reject(new Error(`socket ${index} closed before open: ${code} ${reason.toString()}`)));
      });
    });
    await Promise.all(opened);
  }
  // A socket the server closes right after opening it would otherwise only show as a request never answered.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const closed = sockets.flatMap((ws, i) => (ws.readyState === WebSocket.OPEN ? [] : [`#${i}: ${closes[i] ?? `state ${ws.readyState}`}`]));
  if (closed.length > 0) throw new Error(`${closed.length} socket(s) closed by the server just after they opened: ${closed.slice(0, 5).join('; ')}`);
}

async function handle(message: ToClients): Promise<void> {
  switch (message.op) {
    case 'connect':
      await connect(message.url, message.headers, message.count);
      break;
    case 'send': {
      const acked = message.ack === null ? Promise.resolve() : new Promise<void>((resolve, reject) => {
        pendingAcks = { prefix: message.ack as string, left: sockets.length, answered: new Set(), resolve, reject };
      });
      const timer = setTimeout(() => {
        if (!pendingAcks) return;
        const { answered, left } = pendingAcks;
        const missing = sockets.flatMap((ws, i) => (answered.has(i) ? [] : [`#${i} (state ${ws.readyState}${closes[i] ? `, closed: ${closes[i]}` : ''}, last: ${lastMessage[i]?.toString('utf8', 0, 120) ?? 'nothing'})`]));
        pendingAcks.reject(new Error(`${left} socket(s) not answered in 30 s: ${missing.slice(0, 5).join('; ')}`));
      }, 30_000);
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
      for (const s of state) Object.assign(s, { count: 0, last: -1, hash: HASH_SEED, disorder: 0, from: -1, owed: null, reached: false });
      c = fresh();
      lastSlice = null;
      reachedCount = 0;
      armed = { cpu: process.cpuUsage(), record: message.record, idleMs: 0, idle: null, expecting: false };
      break;
    case 'expect': {
      if (!armed) throw new Error('expect before arm');
      const cache = new Map<number, Owed>();
      for (const s of state) s.owed = owedAfter(message.cursors, s.from, cache);
      armed.expecting = true;
      armed.idleMs = message.idleMs;
      armed.idle = setTimeout(finish, message.idleMs);
      for (const s of state) check(s);
      break;
    }
    case 'close':
      await Promise.all(sockets.map((ws) => new Promise<void>((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        ws.once('close', () => resolve());
        ws.close(1000);
      })));
      sockets.length = 0;
      state.length = 0;
      lastMessage.length = 0;
      openedAt.length = 0;
      closes.length = 0;
      errors.length = 0;
      break;
  }
  reply({ op: 'ok' });
}

process.on('message', (message: ToClients) => {
  handle(message).catch((err: unknown) => reply({ op: 'error', message: err instanceof Error ? err.message : String(err) }));
});
process.on('disconnect', () => process.exit(0));
