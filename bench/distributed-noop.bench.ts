/**
 * The engine in distributed mode on this one machine: its own `nats-server -js`, a coordinator in this process
 * (`createEngine` with NATS_URL and no local pool, SQLite store, the embedded-noop settings) and WORKERS
 * `troupe worker` child processes with one pool thread each. ONE run of N no-op items, measured like
 * embedded-noop (engine-round.ts); also created → picked up by a worker, from the results on the bus.
 *
 * One thread per worker: the machines this runs on have 2 cores, and the embedded scenario runs
 * availableParallelism() = 2 pool threads. Two workers of one thread give the same two pool threads, so the
 * comparison isolates what the bus costs; two threads each would put 4 pool threads, 2 worker main threads,
 * the coordinator and nats-server on 2 cores and measure oversubscription instead.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Subscription } from '@nats-io/transport-node';
import type { JobResult } from '../src/bus/bus.port.js';
import { JetStreamBus } from '../src/bus/jetstream.bus.js';
import { loadConfig } from '../src/core/config.js';
import { createLogger } from '../src/core/log.js';
import { createEngine, type Engine } from '../src/engine/create-engine.js';
import { CONCURRENCY, WARMUP_N, benchN, log, main, otherCpuMsSince, summarize, throughput, type BenchOutput } from './common.js';
import { noopRound, transitionLatencies } from './engine-round.js';
import { natsServer, startNats } from './nats-server.js';
import { cpuDelta, procCpuMs } from './proc.js';

const SCENARIO = 'distributed-noop';
const WORKERS = 2;
const THREADS_PER_WORKER = 1;
const troupeBin = fileURLToPath(new URL('../../bin/troupe.js', import.meta.url));

interface WorkerProcess {
  child: ChildProcess;
  /** The line the worker prints once it pulls: its id, slots and pools. */
  banner: string;
}

/** `troupe worker` as a user starts it; resolves once it has printed that it is pulling. */
async function startWorker(natsUrl: string, index: number): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [troupeBin, 'worker'], {
    env: {
      ...process.env,
      NATS_URL: natsUrl,
      QUEUE_WORKER_COUNT: String(THREADS_PER_WORKER),
      TROUPE_AGENT_ID: `bench-worker-${index}`,
      LOGGING_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  const banner = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker ${index} did not start within 20 s:\n${stdout}`)), 20_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((l) => l.startsWith('troupe worker '));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`worker ${index} exited (${signal ?? code}) while starting:\n${stdout}`));
    });
  });
  try {
    const line = await banner;
    child.stdout?.resume();
    return { child, banner: line };
  } catch (err) {
    child.kill('SIGKILL'); // not yet in the caller's list: nobody else would stop it
    throw err;
  }
}

/** SIGTERM (a graceful leave: nothing is running by now), SIGKILL after 10 s. */
async function stopWorker({ child }: WorkerProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Copies of the job results as workers publish them: when each worker picked its job up and finished it. */
function watchResults(engine: Engine): { results: Map<string, JobResult>; stop(): void } {
  const results = new Map<string, JobResult>();
  if (!(engine.bus instanceof JetStreamBus)) throw new Error('the engine did not open the JetStream bus');
  const decoder = new TextDecoder();
  // A plain subscription sees every message published to the subject; the coordinator's durable consumer
  // of the results stream is not affected.
  const sub: Subscription = engine.bus.connection.subscribe(`${engine.bus.prefix}.results.>`, {
    callback: (err, msg) => {
      if (err) return;
      const result = JSON.parse(decoder.decode(msg.data)) as JobResult;
      results.set(result.executionId, result);
    },
  });
  return { results, stop: () => sub.unsubscribe() };
}

main(SCENARIO, async (): Promise<BenchOutput> => {
  const n = benchN();
  const found = natsServer();
  if (found === null) return { scenario: SCENARIO, skipped: 'nats-server is not installed (set NATS_SERVER_BIN)' };
  await using nats = await startNats(found);
  const dataDir = await mkdtemp(join(tmpdir(), 'troupe-bench-'));
  const workers: WorkerProcess[] = [];
  let engine: Engine | null = null;
  try {
    const config = loadConfig({
      TROUPE_DATA_DIR: dataDir,
      NATS_URL: nats.url,
      QUEUE_MAX_QUEUE_SIZE: String(Math.max(n, WARMUP_N) * 2),
      EXECUTION_MAX_CONCURRENT_JOBS: String(CONCURRENCY),
      LOGGING_LEVEL: 'warn',
      TROUPE_STORE_SYNC: process.env.TROUPE_STORE_SYNC,
    });
    engine = await createEngine(config, createLogger(config.LOGGING_LEVEL), { pool: false });
    for (let i = 1; i <= WORKERS; i++) workers.push(await startWorker(nats.url, i));
    for (const w of workers) log(`${SCENARIO}: ${w.banner}`);

    log(`${SCENARIO}: warm-up ${WARMUP_N}`);
    await noopRound(engine, WARMUP_N);
    log(`${SCENARIO}: measuring ${n} (concurrency ${CONCURRENCY}, ${WORKERS} workers × ${THREADS_PER_WORKER} thread, nats-server ${nats.version})`);
    const pids = [nats, ...workers.map((w) => ({ cpuMs: () => procCpuMs(w.child.pid) }))];
    const watch = watchResults(engine);
    const before = pids.map((p) => p.cpuMs());
    const r = await noopRound(engine, n);
    const after = pids.map((p) => p.cpuMs());
    watch.stop();

    const natsCpuMs = cpuDelta(before.slice(0, 1), after.slice(0, 1));
    const workersCpuMs = cpuDelta(before.slice(1), after.slice(1));
    const cpuMs = r.cpuMs + (natsCpuMs ?? 0) + (workersCpuMs ?? 0);
    const { created, queue, service, missing } = transitionLatencies(r.events);
    const pickup: number[] = [];
    const onWorker: number[] = [];
    const perAgent = new Map<string, number>();
    for (const [id, at] of created) {
      const result = watch.results.get(id);
      if (result === undefined) continue;
      pickup.push(result.startedAt - at);
      onWorker.push(result.finishedAt - result.startedAt);
      perAgent.set(result.agentId, (perAgent.get(result.agentId) ?? 0) + 1);
    }
    const pickupSummary = summarize('created → job picked up by a worker (JobResult.startedAt), ms', pickup);
    const onWorkerSummary = summarize('job on the worker, startedAt → finishedAt, ms', onWorker);
    return {
      scenario: SCENARIO,
      n,
      concurrency: config.EXECUTION_MAX_CONCURRENT_JOBS,
      threads: WORKERS * THREADS_PER_WORKER,
      wallMs: Math.round(r.wallMs),
      throughput: throughput(n, r.wallMs),
      latency: summarize('queue: created (seq 1, PENDING) → RUNNING (job published), transition `at`, ms', queue),
      service: summarize('RUNNING → terminal (bus round trip included), transition `at`, ms', service),
      cpuMs,
      otherCpuMs: otherCpuMsSince(r.machineAtStart, cpuMs),
      okCount: r.passed,
      allOk: r.passed === n && r.runStatus === 'PASSED',
      details: {
        runStatus: r.runStatus,
        submitMs: Math.round(r.submitMs),
        mainThreadCpuMs: r.mainThreadCpuMs,
        eventsSeen: r.events.length,
        executionsWithoutRunningEvent: missing,
        resultsSeen: pickup.length,
        pickupP50: pickupSummary.p50,
        pickupP99: pickupSummary.p99,
        onWorkerP50: onWorkerSummary.p50,
        onWorkerP99: onWorkerSummary.p99,
        jobsPerAgent: JSON.stringify(Object.fromEntries([...perAgent].sort())),
        coordinatorCpuMs: r.cpuMs,
        workersCpuMs,
        natsCpuMs,
        workers: WORKERS,
        threadsPerWorker: THREADS_PER_WORKER,
        slots: `${WORKERS} × ${THREADS_PER_WORKER} thread × 16 tasks`,
        natsServer: nats.version,
        storeSync: config.TROUPE_STORE_SYNC,
        rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
      },
    };
  } finally {
    await Promise.all(workers.map(stopWorker));
    await engine?.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
