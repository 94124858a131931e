/**
 * The HTTP API under autocannon: a fully started server (embedded engine on a fresh data dir, default durability,
 * metrics on, the rate limiter exercised but never refusing, an API key checked on every request) against a bare
 * uWebSockets.js app doing validation only (http-bare.ts). Routes: POST /v1/executions with a GENERIC noop item
 * (each one is stored and then runs), and GET /v1/executions/:id of an existing execution. autocannon runs in a
 * forked child (http-load.ts); each load gets a short warm-up first. The engine finishes the executions one load
 * created before the next load starts.
 * Env: BENCH_HTTP_SECONDS (per measured load, default 10), BENCH_HTTP_WARMUP_SECONDS (default 2),
 * BENCH_HTTP_CONNECTIONS (default 50). BENCH_N is not used: loads run for a fixed time.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Engine } from '../src/engine/create-engine.js';
import { issueApiKey } from '../src/http/auth.js';
import { startServer } from '../src/http/server.js';
import { startBare } from './http-bare.js';
import type { LoadRequest, LoadSummary } from './http-load.js';
import { cpuMsSince, log, machineBusyMs, main, otherCpuMsSince, type ScenarioResult } from './common.js';
import { startServiceEngine } from './service-engine.js';

const SCENARIO = 'http-api';
const ITEM = JSON.stringify({ name: 'bench noop', type: 'GENERIC', steps: [{ action: 'noop' }] });

function seconds(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive whole number, got ${raw}`);
  return value;
}

interface Measured extends LoadSummary {
  /** CPU time of this (server) process during the load, all threads. */
  serverCpuMs: number;
  /** Machine busy time beyond server and loader CPU during the load. */
  otherCpuMs: number | null;
}

/** One load through the loader child; also charges this process's CPU to it. */
async function measure(loader: ChildProcess, request: LoadRequest): Promise<Measured> {
  const machine = machineBusyMs();
  const cpu = process.cpuUsage();
  loader.send(request);
  const exited = once(loader, 'exit').then(([code]) => Promise.reject(new Error(`the loader exited (${String(code)})`)));
  const [reply] = (await Promise.race([once(loader, 'message'), exited])) as [{ ok: true; summary: LoadSummary } | { ok: false; error: string }];
  if (!reply.ok) throw new Error(`loader: ${reply.error}`);
  const serverCpuMs = cpuMsSince(cpu);
  const otherCpuMs = otherCpuMsSince(machine, serverCpuMs + reply.summary.loaderCpuMs);
  return { ...reply.summary, serverCpuMs, otherCpuMs };
}

/** Waits until the engine holds no live execution (everything created has finished and is stored). */
async function drain(engine: Engine, limitMs = 300_000): Promise<number> {
  const start = performance.now();
  while (engine.coordinator.stats().live > 0) {
    if (performance.now() - start > limitMs) throw new Error(`the engine did not drain in ${limitMs} ms: ${JSON.stringify(engine.coordinator.stats())}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await engine.store.flush();
  return Math.round(performance.now() - start);
}

const line = (name: string, m: Measured): string =>
  `${name}: ${m.reqPerSec} req/s, p50 ${m.p50} ms, p99 ${m.p99} ms, non-2xx ${m.non2xx}, errors ${m.errors}, ` +
  `server CPU ${m.serverCpuMs} ms, loader CPU ${m.loaderCpuMs} ms, other ${m.otherCpuMs ?? '-'} ms`;

const ratio = (a: number, b: number): number => Number((a / b).toFixed(3));

main(SCENARIO, async (): Promise<ScenarioResult> => {
  const measureSeconds = seconds('BENCH_HTTP_SECONDS', 10);
  const warmupSeconds = seconds('BENCH_HTTP_WARMUP_SECONDS', 2);
  const connections = seconds('BENCH_HTTP_CONNECTIONS', 50);
  const service = await startServiceEngine('troupe-bench-http-');
  const { engine, config, logger } = service;
  const loader = fork(fileURLToPath(new URL('./http-load.js', import.meta.url)), [], { stdio: ['ignore', 2, 'inherit', 'ipc'] });
  let closeServer: (() => Promise<void>) | undefined;
  let closeBare: (() => void) | undefined;
  try {
    const { secret } = await issueApiKey(engine.store, 'bench', 'runner', 'http-api bench');
    const server = await startServer({ engine, config, logger, port: 0, host: '127.0.0.1' });
    closeServer = () => server.close(2000);
    const troupe = `http://127.0.0.1:${server.port}`;
    const auth = { authorization: `Bearer ${secret}` };
    const postHeaders = { ...auth, 'content-type': 'application/json' };

    const created = await fetch(`${troupe}/v1/executions`, { method: 'POST', headers: postHeaders, body: ITEM });
    if (created.status !== 201) throw new Error(`POST /v1/executions answered ${created.status}: ${await created.text()}`);
    const { id } = (await created.json()) as { id: string };
    await drain(engine);
    const got = await fetch(`${troupe}/v1/executions/${id}`, { headers: auth });
    const getBody = await got.text();
    if (got.status !== 200) throw new Error(`GET /v1/executions/${id} answered ${got.status}: ${getBody}`);
    const bare = await startBare(getBody);
    closeBare = () => bare.close();
    const bareUrl = `http://127.0.0.1:${bare.port}`;

    const post = (base: string, s: number): LoadRequest =>
      ({ url: `${base}/v1/executions`, method: 'POST', headers: postHeaders, body: ITEM, seconds: s, connections });
    const get = (base: string, s: number): LoadRequest =>
      ({ url: `${base}/v1/executions/${id}`, method: 'GET', headers: auth, seconds: s, connections });
    const run = async (name: string, request: (base: string, s: number) => LoadRequest, base: string, settle: boolean) => {
      log(`${SCENARIO}: ${name}: warm-up ${warmupSeconds} s`);
      await measure(loader, request(base, warmupSeconds));
      if (settle) log(`${SCENARIO}: ${name}: warm-up executions finished in ${await drain(engine)} ms`);
      log(`${SCENARIO}: ${name}: measuring ${measureSeconds} s, ${connections} connections`);
      const m = await measure(loader, request(base, measureSeconds));
      const drainMs = settle ? await drain(engine) : 0;
      log(`${SCENARIO}: ${line(name, m)}${settle ? `, then ${drainMs} ms to finish the executions` : ''}`);
      return { m, drainMs };
    };

    const { m: tPost, drainMs } = await run('troupe POST', post, troupe, true);
    const { m: tGet } = await run('troupe GET', get, troupe, false);
    const { m: bPost } = await run('bare POST', post, bareUrl, false);
    const { m: bGet } = await run('bare GET', get, bareUrl, false);

    const createRatio = ratio(tPost.reqPerSec, bPost.reqPerSec);
    const getRatio = ratio(tGet.reqPerSec, bGet.reqPerSec);
    log(`${SCENARIO}: troupe/bare create ${createRatio}x (aim >= 0.25x), get ${getRatio}x (aim >= 0.5x)`);
    const troupeClean = (m: Measured) => m.non2xx === 0 && m.errors === 0 && m.timeouts === 0;
    const details: ScenarioResult['details'] = {
      seconds: measureSeconds,
      warmupSeconds,
      connections,
      pipelining: 1,
      storeSync: config.TROUPE_STORE_SYNC,
      threads: engine.pool?.threads ?? 0,
      createRatio,
      createRatioAim: 0.25,
      getRatio,
      drainAfterCreateMs: drainMs,
      rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
    };
    const measuredRuns = { troupePost: tPost, troupeGet: tGet, barePost: bPost, bareGet: bGet };
    for (const [name, m] of Object.entries(measuredRuns)) {
      Object.assign(details, {
        [`${name}ReqPerSec`]: m.reqPerSec,
        [`${name}Total`]: m.total,
        [`${name}P50Ms`]: m.p50,
        [`${name}P99Ms`]: m.p99,
        [`${name}MaxMs`]: m.max,
        [`${name}Non2xx`]: m.non2xx,
        [`${name}Errors`]: m.errors + m.timeouts,
        [`${name}StatusCodes`]: JSON.stringify(m.statusCodes),
        [`${name}ServerCpuMs`]: m.serverCpuMs,
        [`${name}LoaderCpuMs`]: m.loaderCpuMs,
        [`${name}OtherCpuMs`]: m.otherCpuMs,
      });
    }
    return {
      scenario: SCENARIO,
      n: tPost.ok2xx,
      concurrency: connections,
      threads: engine.pool?.threads ?? 0,
      wallMs: Math.round(tPost.seconds * 1000),
      throughput: tPost.reqPerSec,
      latency: {
        measures: 'autocannon: POST /v1/executions request → response (2xx), whole ms',
        count: tPost.ok2xx,
        p50: tPost.p50,
        p99: tPost.p99,
        max: tPost.max,
      },
      cpuMs: tPost.serverCpuMs + tPost.loaderCpuMs,
      otherCpuMs: tPost.otherCpuMs,
      okCount: tPost.ok2xx,
      allOk: troupeClean(tPost) && troupeClean(tGet),
      details,
    };
  } finally {
    loader.disconnect();
    closeBare?.();
    await closeServer?.();
    await service.close();
  }
});
