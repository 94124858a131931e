/**
 * What the live-channel scenarios (ws-fanout, ws-steady) share: a fully started server with S subscribers
 * (forked `ws` client processes, ws-clients.ts; one of them, the probe, alone in a process of its own), a
 * measured round, and the `ws` peer round that sends the same messages.
 *
 * What a round expects comes from what was sent, never from a constant: for Troupe, the run's entries in the
 * store's event log (`store.logSince`, transitions and step events share one cursor sequence), each socket
 * being owed those after the cursor its subscription was acknowledged with; for the peer, the messages it sent.
 * A subscriber is exact when it received every message it was owed, once, in cursor order.
 */
import type { Engine } from '../src/engine/create-engine.js';
import type { Principal } from '../src/engine/coordinator.js';
import { issueApiKey } from '../src/http/auth.js';
import { startServer } from '../src/http/server.js';
import type { LogEntry } from '../src/store/store.port.js';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { cpuMsSince, log, machineBusyMs, otherCpuMsSince, preciseNow, type LatencySummary, type ScenarioResult } from './common.js';
import { mergeInto, newHistogram, summarizeHistogram } from './histogram.js';
import type { Collected } from './ws-clients.js';
import { startServiceEngine, type ServiceEngine } from './service-engine.js';
import { Subscribers } from './ws-subscribers.js';
import type { WsPeer } from './ws-peer.js';

/** A round ends this long after the last message once every message is owed, if some socket still lacks some. */
export const IDLE_MS = 3000;

export function whole(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive whole number, got ${raw}`);
  return value;
}

export interface Round {
  /** Event messages received, all subscribers; of them transition and step events. */
  received: number;
  transitions: number;
  steps: number;
  /** Messages owed, all subscribers (what was sent on the topic after each one's subscription). */
  owed: number;
  /** Subscribers that received exactly what they were owed, once each, in order; and those that did not. */
  exact: number;
  short: number;
  long: number;
  disordered: number;
  /** Sockets the server closed during the round. */
  closed: number;
  /** Delivered event messages per second, all subscribers: received / (last receive − first transition at). */
  rate: number;
  windowMs: number;
  /** First to last transition `at` (the server's production span; for the peer, its sending span). */
  spanMs: number;
  /** Transition `at` → client receive, all subscribers. */
  latency: LatencySummary;
  /** The probe: one subscriber alone in its process, so its latency has no client-side queueing. */
  probe: LatencySummary;
  /** p99 and max per second of transition `at`, all subscribers and the probe. */
  perSecond: { second: number; count: number; p99: number; max: number; probeP99: number }[];
  serverCpuMs: number;
  clientCpuMs: number;
  otherCpuMs: number | null;
  /** The first subscriber's messages as received (for the peer to send). */
  texts: string[];
}

export interface RoundOptions {
  measures: string;
  /** Keep the first subscriber's messages (Troupe rounds: the peer sends them afterwards). */
  record: boolean;
  /** Makes the server send; resolves with the cursors it sent on the topic, ascending. */
  trigger: () => Promise<number[]>;
}

/** Arms the subscribers, runs `trigger`, tells them what was sent and waits until they have it (or go idle). */
export async function round(clients: Subscribers, options: RoundOptions): Promise<Round> {
  await clients.all((i) => ({ op: 'arm', record: options.record && i === 0 }));
  const machine = machineBusyMs();
  const cpu = process.cpuUsage();
  const cursors = await options.trigger();
  const done = clients.next('done');
  done.catch(() => undefined); // awaited below unless `expect` fails first
  await clients.all(() => ({ op: 'expect', cursors, idleMs: IDLE_MS }));
  const parts = (await done).map((m) => (m as { collected: Collected }).collected);
  const serverCpuMs = cpuMsSince(cpu);
  const clientCpuMs = parts.reduce((s, p) => s + p.cpuMs, 0);
  type Summed = 'received' | 'transitions' | 'steps' | 'owed' | 'exact' | 'short' | 'long' | 'disordered' | 'closed';
  const sum = (key: Summed) => parts.reduce((s, p) => s + p[key], 0);
  const probe = parts[parts.length - 1] as Collected;
  const firstAt = Math.min(...parts.map((p) => p.firstAt));
  const windowMs = Math.max(...parts.map((p) => p.lastReceive)) - firstAt;
  const all = parts.reduce((h, p) => mergeInto(h, p.histogram), newHistogram());
  const seconds = [...new Set(parts.flatMap((p) => [...p.perSecond.keys()]))].sort((a, b) => a - b);
  const perSecond = seconds.map((second) => {
    const slices = parts.map((p) => p.perSecond.get(second)).filter((s) => s !== undefined);
    const merged = slices.reduce((h, s) => mergeInto(h, s.histogram), newHistogram());
    const summary = summarizeHistogram('', merged, Math.max(...slices.map((s) => s.max)));
    const ofProbe = probe.perSecond.get(second);
    return {
      second: second - (seconds[0] ?? 0),
      count: summary.count,
      p99: summary.p99,
      max: summary.max,
      probeP99: ofProbe ? summarizeHistogram('', ofProbe.histogram, ofProbe.max).p99 : Number.NaN,
    };
  });
  return {
    received: sum('received'),
    transitions: sum('transitions'),
    steps: sum('steps'),
    owed: sum('owed'),
    exact: sum('exact'),
    short: sum('short'),
    long: sum('long'),
    disordered: sum('disordered'),
    closed: sum('closed'),
    rate: Math.round((sum('received') * 1000) / windowMs),
    windowMs: Math.round(windowMs),
    spanMs: Math.max(...parts.map((p) => p.lastAt)) - firstAt,
    latency: summarizeHistogram(options.measures, all, Math.max(...parts.map((p) => p.max))),
    probe: summarizeHistogram(`${options.measures}, the probe subscriber`, probe.histogram, probe.max),
    perSecond,
    serverCpuMs,
    clientCpuMs,
    otherCpuMs: otherCpuMsSince(machine, serverCpuMs + clientCpuMs),
    texts: parts.flatMap((p) => p.texts),
  };
}

/** Every subscriber got what it was owed, once each, in order, and none was closed. */
export const allOk = (r: Round, subscribers: number): boolean => r.exact === subscribers && r.closed === 0;

export function line(name: string, r: Round, subscribers: number): string {
  return (
    `${name}: ${r.rate} messages/s delivered (${r.received} = ${r.transitions} transitions + ${r.steps} steps, ` +
    `owed ${r.owed}, in ${r.windowMs} ms, produced over ${r.spanMs} ms), ` +
    `p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, max ${r.latency.max} ms, ` +
    `probe p50 ${r.probe.p50} ms p99 ${r.probe.p99} ms max ${r.probe.max} ms, exact ${r.exact}/${subscribers} ` +
    `(short ${r.short}, long ${r.long}, disordered ${r.disordered}), closed ${r.closed}, ` +
    `server CPU ${r.serverCpuMs} ms, client CPU ${r.clientCpuMs} ms, other ${r.otherCpuMs ?? '-'} ms`
  );
}

/**
 * The run's entries of the event log after `after`, in cursor order: what the live channel sends on its topic.
 * Read in small pages, yielding between them: the server may still be publishing the last events, and a long
 * synchronous read would delay them (and be measured as the engine's latency).
 */
export async function runLog(engine: Engine, runId: string, after: number): Promise<LogEntry[]> {
  const entries: LogEntry[] = [];
  for (let cursor = after; ; ) {
    const page = await engine.store.logSince(cursor, 200);
    if (page.length === 0) return entries;
    for (const e of page) if (e.runId === runId) entries.push(e);
    cursor = (page[page.length - 1] as LogEntry).cursor;
    await nextTurn();
  }
}

/** The cursors of messages as sent (`{"topic":…,"cursor":N,…}`). */
export function cursorsOf(texts: readonly string[]): number[] {
  return texts.map((t) => Number(/"cursor":(\d+)/.exec(t)?.[1] ?? Number.NaN));
}

export interface LiveSettings {
  scenario: string;
  subscribers: number;
  procs: number;
}

/** The server and its subscribers. */
export interface Live {
  service: ServiceEngine;
  engine: Engine;
  principal: Principal;
  clients: Subscribers;
  /** Sockets per client process (the last one is the probe's). */
  sizes: number[];
  /** Subscribes every socket to `run:<runId>`; resolves with the time it took, ms, once all are acknowledged. */
  subscribe(runId: string): Promise<number>;
  /**
   * Submits `body` while a control socket (in this process) is subscribed to the principal's `user:` topic, and
   * waits until it has received every event stored by then: the live channel has published the run's creation
   * events, so subscribers that join afterwards are owed only what the items do once due (without the wait, the
   * creation events of a large run reach those that joined while the channel was still publishing them). The
   * control socket is closed before returning. Resolves with the submit's result, how long it took and how long
   * the channel then took to publish everything.
   */
  submitCaughtUp(body: unknown): Promise<{ runId: string; executionIds: string[]; submitMs: number; catchUpMs: number }>;
  /** Closes the subscribers' sockets and the server; the engine stays up. */
  closeServer(): Promise<void>;
  close(): Promise<void>;
}

export async function startLive({ scenario, subscribers, procs }: LiveSettings): Promise<Live> {
  const service = await startServiceEngine('troupe-bench-ws-');
  const { engine, config, logger } = service;
  // The subscribers split over `procs` processes, plus the probe alone in one more.
  const split = Array.from({ length: procs }, (_, i) => Math.floor((subscribers - 1 + i) / procs));
  const sizes = [...split, 1];
  const clients = new Subscribers(sizes);
  let closeServer: (() => Promise<void>) | undefined;
  let principal: Principal;
  let url = '';
  let headers: Record<string, string> = {};
  try {
    const { secret, key } = await issueApiKey(engine.store, 'bench', 'runner', `${scenario} bench`);
    principal = { id: key.owner, roles: [key.role] };
    const server = await startServer({ engine, config, logger, port: 0, host: '127.0.0.1' });
    closeServer = () => server.close(2000);
    log(`${scenario}: connecting ${subscribers} subscribers (${split.join(' + ')} + 1 probe) to /v1/live`);
    url = `ws://127.0.0.1:${server.port}/v1/live`;
    headers = { authorization: `Bearer ${secret}` };
    await clients.connect(url, headers);
  } catch (err) {
    clients.close();
    await closeServer?.();
    await service.close();
    throw err;
  }
  const stopServer = async () => {
    const close = closeServer;
    closeServer = undefined;
    await close?.();
  };
  return {
    service,
    engine,
    principal,
    clients,
    sizes,
    async subscribe(runId) {
      const start = preciseNow();
      await clients.all(() => ({ op: 'send', text: JSON.stringify({ op: 'subscribe', topics: [`run:${runId}`] }), ack: '{"op":"subscribed"' }));
      return Math.round(preciseNow() - start);
    },
    async submitCaughtUp(body) {
      const control = new WebSocket(url, { headers, perMessageDeflate: false });
      let seen = 0;
      let wanted = Infinity;
      let reached: (() => void) | null = null;
      const acked = new Promise<void>((resolve, reject) => {
        control.once('error', reject);
        control.on('message', (data: Buffer) => {
          const text = data.toString('utf8');
          if (text.startsWith('{"op":"subscribed"')) resolve();
          else if (text.startsWith('{"op":"error"')) reject(new Error(`control socket: ${text}`));
          const cursor = /^\{"topic":"[^"]*","cursor":(\d+)/.exec(text)?.[1];
          if (cursor !== undefined) seen = Math.max(seen, Number(cursor));
          if (seen >= wanted) reached?.();
        });
        control.once('open', () => control.send(JSON.stringify({ op: 'subscribe', topics: [`user:${principal.id}`] })));
      });
      try {
        await acked;
        const start = preciseNow();
        const { id: runId, executionIds } = await engine.coordinator.submitRun(body, principal);
        const submitted = preciseNow();
        wanted = await engine.store.latestCursor();
        if (seen < wanted) {
          await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`the live channel did not publish up to cursor ${wanted} in 60 s`)), 60_000);
            reached = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
        return { runId, executionIds, submitMs: Math.round(submitted - start), catchUpMs: Math.round(preciseNow() - submitted) };
      } finally {
        await new Promise<void>((resolve) => {
          if (control.readyState === WebSocket.CLOSED) return resolve();
          control.once('close', () => resolve());
          control.close(1000);
        });
      }
    },
    async closeServer() {
      await clients.all(() => ({ op: 'close' }));
      await stopServer();
    },
    async close() {
      clients.close();
      await stopServer();
      await service.close();
    },
  };
}

/** A Troupe round: submits `body`, subscribes everyone to the run, waits until it PASSED; the log says what was sent. */
export async function troupeRound(
  live: Live,
  body: { name: string; items: unknown[] },
  firstDueAt: number,
  leadMs: number,
  measures: string,
): Promise<{ round: Round; log: LogEntry[]; subscribeMs: number; runId: string; executionIds: string[]; submitMs: number; catchUpMs: number }> {
  const after = await live.engine.store.latestCursor();
  let entries: LogEntry[] = [];
  let subscribeMs = 0;
  let submitMs = 0;
  let catchUpMs = 0;
  let runId = '';
  let executionIds: string[] = [];
  const r = await round(live.clients, {
    measures,
    record: true,
    trigger: async () => {
      ({ runId, executionIds, submitMs, catchUpMs } = await live.submitCaughtUp(body));
      subscribeMs = await live.subscribe(runId);
      if (Date.now() > firstDueAt - 10) {
        throw new Error(
          `submitting (${submitMs} ms), publishing the creation events (${catchUpMs} ms) and subscribing (${subscribeMs} ms) ` +
            `took past the ${leadMs} ms lead: raise BENCH_WS_LEAD_MS`,
        );
      }
      const status = await live.engine.coordinator.waitForRun(runId);
      if (status !== 'PASSED') throw new Error(`run ${runId} ended ${status}`);
      entries = await runLog(live.engine, runId, after);
      return entries.map((e) => e.cursor);
    },
  });
  return { round: r, log: entries, subscribeMs, runId, executionIds, submitMs, catchUpMs };
}

/** A peer round: the peer sends `texts` (burst, or one every `intervalMs`) to the same subscribers. */
export function peerRound(live: Live, peer: WsPeer, texts: readonly string[], intervalMs: number | null, measures: string): Promise<Round> {
  return round(live.clients, {
    measures,
    record: false,
    trigger: async () => {
      await peer.broadcast(texts, intervalMs);
      return cursorsOf(texts);
    },
  });
}

/** How many entries of `log` are transitions and how many step events. */
export function countByType(log: readonly LogEntry[]): { transitions: number; steps: number } {
  let transitions = 0;
  let steps = 0;
  for (const e of log) {
    if (e.kind === 'transition') transitions++;
    else steps++;
  }
  return { transitions, steps };
}

/** Mean size in bytes of the transition and of the step-event messages among `texts`. */
export function messageBytes(texts: readonly string[]): { meanTransitionBytes: number; meanStepBytes: number } {
  const sizes = { t: [0, 0], s: [0, 0] };
  for (const text of texts) {
    const kind = text.includes('"event":{"type":"transition"') ? sizes.t : sizes.s;
    kind[0] = (kind[0] ?? 0) + Buffer.byteLength(text);
    kind[1] = (kind[1] ?? 0) + 1;
  }
  const mean = ([bytes = 0, n = 0]: number[]) => (n === 0 ? 0 : Math.round(bytes / n));
  return { meanTransitionBytes: mean(sizes.t), meanStepBytes: mean(sizes.s) };
}

/** A live-channel scenario's result: the Troupe round's figures, with `details`. */
export function liveResult(
  scenario: string,
  live: Live,
  items: number,
  subscribers: number,
  troupe: Round,
  details: ScenarioResult['details'],
): ScenarioResult {
  return {
    scenario,
    n: items,
    concurrency: subscribers,
    threads: live.engine.pool?.threads ?? 0,
    wallMs: troupe.windowMs,
    throughput: troupe.rate,
    latency: troupe.latency,
    cpuMs: troupe.serverCpuMs + troupe.clientCpuMs,
    otherCpuMs: troupe.otherCpuMs,
    okCount: troupe.exact,
    allOk: allOk(troupe, subscribers),
    details,
  };
}

/** What both scenarios report of the run's log and of how it was submitted and subscribed. */
export function runLogDetails(
  live: Live,
  sent: { transitions: number; steps: number },
  texts: readonly string[],
  measured: { submitMs: number; catchUpMs: number; subscribeMs: number },
): Record<string, string | number> {
  return {
    runLogTransitions: sent.transitions,
    runLogSteps: sent.steps,
    messagesPerSubscriber: texts.length,
    ...messageBytes(texts),
    storeSync: live.service.config.TROUPE_STORE_SYNC,
    submitMs: measured.submitMs,
    creationPublishedAfterMs: measured.catchUpMs,
    subscribeMs: measured.subscribeMs,
  };
}

/** The details both scenarios report for a round, prefixed `troupe…` or `ws…`. */
export function roundDetails(name: string, r: Round, subscribers: number): Record<string, string | number | boolean | null> {
  return {
    [`${name}MessagesPerSec`]: r.rate,
    [`${name}Received`]: r.received,
    [`${name}Transitions`]: r.transitions,
    [`${name}Steps`]: r.steps,
    [`${name}Owed`]: r.owed,
    [`${name}Exact`]: r.exact,
    [`${name}AllOk`]: allOk(r, subscribers),
    [`${name}Closed`]: r.closed,
    [`${name}WindowMs`]: r.windowMs,
    [`${name}ProducedOverMs`]: r.spanMs,
    [`${name}P50Ms`]: r.latency.p50,
    [`${name}P99Ms`]: r.latency.p99,
    [`${name}MaxMs`]: r.latency.max,
    [`${name}ProbeP50Ms`]: r.probe.p50,
    [`${name}ProbeP99Ms`]: r.probe.p99,
    [`${name}ProbeMaxMs`]: r.probe.max,
    [`${name}P99BySecondMs`]: r.perSecond.map((s) => s.p99).join(' '),
    [`${name}ProbeP99BySecondMs`]: r.perSecond.map((s) => s.probeP99).join(' '),
    [`${name}MaxBySecondMs`]: r.perSecond.map((s) => s.max).join(' '),
    [`${name}ServerCpuMs`]: r.serverCpuMs,
    [`${name}ClientCpuMs`]: r.clientCpuMs,
    [`${name}OtherCpuMs`]: r.otherCpuMs,
  };
}
