/**
 * Fan-out of the live channel `/v1/live`: S `ws` subscribers (forked child processes, ws-clients.ts; one of them,
 * the probe, alone in its own process to show latency without client-side queueing) all on one
 * `run:<id>` topic of a fully started server (embedded engine, default durability), while a run of N no-op items
 * executes. The items are scheduled a short lead into the future, so the subscribers are on the topic before the
 * first of the 3 transitions per item they then receive (DUE → PENDING, RUNNING, PASSED; the creation events
 * come before the run id is known). All items fall due at the same moment: the run starts as one burst.
 * Measures delivered events/s across all subscribers (event messages received / (last receive − first
 * transition `at`)) and transition `at` → client receive per message. Peer in the same
 * run (ws-peer.ts): a `ws` WebSocketServer sending as many same-sized messages to as many `ws` clients, looping
 * over its clients, measured the same way from send time. A warm-up round precedes each.
 * Env: BENCH_WS_ITEMS (N, default 300), BENCH_WS_SUBSCRIBERS (default 1000), BENCH_WS_CLIENT_PROCS (default 1),
 * BENCH_WS_LEAD_MS (default 2000). BENCH_N is not used.
 */
import { issueApiKey } from '../src/http/auth.js';
import { startServer } from '../src/http/server.js';
import { cpuMsSince, log, machineBusyMs, main, otherCpuMsSince, preciseNow, summarize, type LatencySummary, type ScenarioResult } from './common.js';
import type { Collected } from './ws-clients.js';
import { Subscribers } from './ws-subscribers.js';
import { startWsPeer } from './ws-peer.js';
import { startServiceEngine } from './service-engine.js';

const SCENARIO = 'ws-fanout';
const WARMUP_ITEMS = 50;
/** Transitions per no-op item once its scheduled time comes: DUE → PENDING, START → RUNNING, PASS → PASSED. */
const EVENTS_PER_ITEM = 3;
const IDLE_MS = 3000;

function whole(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive whole number, got ${raw}`);
  return value;
}

interface Round {
  received: number;
  complete: number;
  closed: number;
  /** Delivered event messages per second, all subscribers. */
  rate: number;
  windowMs: number;
  /** First to last event `at` (the server's production span; for the peer, its sending span). */
  spanMs: number;
  latency: LatencySummary;
  /** The probe: one subscriber alone in its process, so its latency has no client-side queueing. */
  probe: LatencySummary;
  serverCpuMs: number;
  clientCpuMs: number;
  otherCpuMs: number | null;
  sample: string;
}

/** Arms the subscribers, runs `trigger`, and waits until they have `expected` events each (or go idle). */
async function round(clients: Subscribers, expected: number, measures: string, trigger: () => Promise<void>): Promise<Round> {
  await clients.all(() => ({ op: 'arm', expected, idleMs: IDLE_MS }));
  const done = clients.next('done');
  done.catch(() => undefined); // awaited below unless `trigger` throws first
  const machine = machineBusyMs();
  const cpu = process.cpuUsage();
  await trigger();
  const parts = (await done).map((m) => (m as { collected: Collected }).collected);
  const serverCpuMs = cpuMsSince(cpu);
  const clientCpuMs = parts.reduce((s, p) => s + p.cpuMs, 0);
  const sum = (key: 'received' | 'complete' | 'closed') => parts.reduce((s, p) => s + p[key], 0);
  const firstAt = Math.min(...parts.map((p) => p.firstAt));
  const windowMs = Math.max(...parts.map((p) => p.lastReceive)) - firstAt;
  const latencies = new Float64Array(sum('received'));
  let offset = 0;
  for (const p of parts) {
    latencies.set(p.latencies, offset);
    offset += p.latencies.length;
  }
  return {
    received: sum('received'),
    complete: sum('complete'),
    closed: sum('closed'),
    rate: Math.round((sum('received') * 1000) / windowMs),
    windowMs: Math.round(windowMs),
    spanMs: Math.max(...parts.map((p) => p.lastAt)) - firstAt,
    latency: summarize(measures, latencies),
    probe: summarize(`${measures}, the probe subscriber`, parts[parts.length - 1]?.latencies ?? []),
    serverCpuMs,
    clientCpuMs,
    otherCpuMs: otherCpuMsSince(machine, serverCpuMs + clientCpuMs),
    sample: parts.find((p) => p.sample !== '')?.sample ?? '',
  };
}

const line = (name: string, r: Round, subscribers: number): string =>
  `${name}: ${r.rate} events/s delivered (${r.received} in ${r.windowMs} ms, produced over ${r.spanMs} ms), ` +
  `p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, max ${r.latency.max} ms, ` +
  `probe p50 ${r.probe.p50} ms p99 ${r.probe.p99} ms, complete ${r.complete}/${subscribers}, ` +
  `closed ${r.closed}, server CPU ${r.serverCpuMs} ms, client CPU ${r.clientCpuMs} ms, other ${r.otherCpuMs ?? '-'} ms`;

main(SCENARIO, async (): Promise<ScenarioResult> => {
  const items = whole('BENCH_WS_ITEMS', 300);
  const subscribers = whole('BENCH_WS_SUBSCRIBERS', 1000);
  const procs = whole('BENCH_WS_CLIENT_PROCS', 1);
  const leadMs = whole('BENCH_WS_LEAD_MS', 2000);
  const service = await startServiceEngine('troupe-bench-ws-');
  const { engine, config, logger } = service;
  // The subscribers split over `procs` processes, plus the probe alone in one more.
  const sizes = Array.from({ length: procs }, (_, i) => Math.floor((subscribers - 1 + i) / procs));
  const clients = new Subscribers([...sizes, 1]);
  let closeServer: (() => Promise<void>) | undefined;
  try {
    const { secret, key } = await issueApiKey(engine.store, 'bench', 'runner', 'ws-fanout bench');
    const principal = { id: key.owner, roles: [key.role] };
    const server = await startServer({ engine, config, logger, port: 0, host: '127.0.0.1' });
    closeServer = () => server.close(2000);
    log(`${SCENARIO}: connecting ${subscribers} subscribers (${sizes.join(' + ')} + 1 probe) to /v1/live`);
    await clients.connect(`ws://127.0.0.1:${server.port}/v1/live`, { authorization: `Bearer ${secret}` });

    let subscribeMs = 0;
    const troupeRound = async (n: number): Promise<Round> => {
      const scheduledAt = Date.now() + leadMs;
      const steps = [{ action: 'noop' }];
      const body = { name: `fan-out ${n}`, items: Array.from({ length: n }, (_, i) => ({ name: `noop-${i}`, type: 'GENERIC', steps, scheduledAt: new Date(scheduledAt).toISOString() })) };
      let runId = '';
      const r = await round(clients, EVENTS_PER_ITEM * n, 'transition `at` (ms resolution) → client receive, ms', async () => {
        runId = (await engine.coordinator.submitRun(body, principal)).id;
        const start = preciseNow();
        await clients.all(() => ({ op: 'send', text: JSON.stringify({ op: 'subscribe', topics: [`run:${runId}`] }), ack: '{"op":"subscribed"' }));
        subscribeMs = Math.round(preciseNow() - start);
        if (Date.now() > scheduledAt - 10) throw new Error(`subscribing took ${subscribeMs} ms, past the ${leadMs} ms lead: raise BENCH_WS_LEAD_MS`);
      });
      const status = await engine.coordinator.waitForRun(runId);
      if (status !== 'PASSED') throw new Error(`run ${runId} ended ${status}`);
      return r;
    };
    log(`${SCENARIO}: troupe warm-up, ${WARMUP_ITEMS} items`);
    log(`${SCENARIO}: ${line('troupe warm-up', await troupeRound(WARMUP_ITEMS), subscribers)}`);
    const troupe = await troupeRound(items);
    log(`${SCENARIO}: ${line(`troupe, ${items} items (subscribed in ${subscribeMs} ms)`, troupe, subscribers)}`);
    await clients.all(() => ({ op: 'close' }));
    await closeServer();
    closeServer = undefined;

    const peer = await startWsPeer();
    try {
      await clients.connect(`ws://127.0.0.1:${peer.port}`, {});
      if (peer.clients !== subscribers) throw new Error(`the ws peer has ${peer.clients} clients, not ${subscribers}`);
      const peerRound = (n: number) =>
        round(clients, EVENTS_PER_ITEM * n, 'ws: send time (ms resolution) → client receive, ms', () => peer.broadcast(troupe.sample, EVENTS_PER_ITEM * n));
      log(`${SCENARIO}: ${line('ws warm-up', await peerRound(WARMUP_ITEMS), subscribers)}`);
      const ws = await peerRound(items);
      log(`${SCENARIO}: ${line('ws', ws, subscribers)}`);
      await clients.all(() => ({ op: 'close' }));

      const ratio = Number((troupe.rate / ws.rate).toFixed(3));
      log(`${SCENARIO}: troupe/ws delivered events/s ${ratio}x (aim >= 4x), troupe p99 ${troupe.latency.p99} ms (aim < 10 ms)`);
      const expected = EVENTS_PER_ITEM * items * subscribers;
      const details: ScenarioResult['details'] = {
        throughputMeasures: 'event messages delivered per second, all subscribers: received / (last receive − first transition at)',
        subscribers,
        clientProcesses: procs,
        eventsPerSubscriber: EVENTS_PER_ITEM * items,
        messageBytes: Buffer.byteLength(troupe.sample),
        storeSync: config.TROUPE_STORE_SYNC,
        subscribeMs,
        ratio,
        ratioAim: 4,
        p99AimMs: 10,
        rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
      };
      for (const [name, r] of Object.entries({ troupe, ws })) {
        Object.assign(details, {
          [`${name}EventsPerSec`]: r.rate,
          [`${name}Received`]: r.received,
          [`${name}AllOk`]: r.received === expected && r.closed === 0,
          [`${name}WindowMs`]: r.windowMs,
          [`${name}ProducedOverMs`]: r.spanMs,
          [`${name}P50Ms`]: r.latency.p50,
          [`${name}P99Ms`]: r.latency.p99,
          [`${name}MaxMs`]: r.latency.max,
          [`${name}ProbeP50Ms`]: r.probe.p50,
          [`${name}ProbeP99Ms`]: r.probe.p99,
          [`${name}ServerCpuMs`]: r.serverCpuMs,
          [`${name}ClientCpuMs`]: r.clientCpuMs,
          [`${name}OtherCpuMs`]: r.otherCpuMs,
        });
      }
      return {
        scenario: SCENARIO,
        n: items,
        concurrency: subscribers,
        threads: engine.pool?.threads ?? 0,
        wallMs: troupe.windowMs,
        throughput: troupe.rate,
        latency: troupe.latency,
        cpuMs: troupe.serverCpuMs + troupe.clientCpuMs,
        otherCpuMs: troupe.otherCpuMs,
        okCount: troupe.complete,
        allOk: troupe.received === expected && troupe.closed === 0,
        details,
      };
    } finally {
      await peer.close();
    }
  } finally {
    clients.close();
    await closeServer?.();
    await service.close();
  }
});
