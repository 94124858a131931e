/**
 * Distributed mode on this one machine, for distributed-noop.bench.ts: a throw-away `nats-server -js`, the
 * coordinator in this process (`createEngine` with NATS_URL and no local pool — what `troupe serve
 * --no-workers` runs, without HTTP) and `troupe worker` child processes, each started as a user starts it.
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
import { loadConfig, type Config } from '../src/core/config.js';
import { createLogger } from '../src/core/log.js';
import { createEngine, type Engine } from '../src/engine/create-engine.js';
import { CONCURRENCY, WARMUP_N } from './common.js';
import { startNats, type NatsServer } from './nats-server.js';
import { procCpuMs } from './proc.js';

const troupeBin = fileURLToPath(new URL('../../bin/troupe.js', import.meta.url));

export interface ClusterShape {
  workers: number;
  threadsPerWorker: number;
  /** Most executions the engine keeps submitted but unfinished (QUEUE_MAX_QUEUE_SIZE). */
  queueSize: number;
}

export interface WorkerProcess {
  child: ChildProcess;
  /** The line the worker prints once it pulls: its id, slots and pools. */
  banner: string;
}

export interface Cluster extends AsyncDisposable {
  nats: NatsServer;
  engine: Engine;
  config: Config;
  workers: WorkerProcess[];
  shape: ClusterShape;
  /** CPU ms so far of nats-server and of the workers together (null where /proc is not readable). */
  cpu(): { natsMs: number | null; workersMs: number | null };
}

/**
 * `troupe worker` as a user starts it; resolves once it has printed that it is pulling. BENCH_WORKER_EXEC_ARGV
 * (space-separated node flags, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) is passed to each worker process.
 */
async function startWorker(natsUrl: string, index: number, threads: number): Promise<WorkerProcess> {
  const execArgv = (process.env.BENCH_WORKER_EXEC_ARGV ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...execArgv, troupeBin, 'worker'], {
    env: {
      ...process.env,
      NATS_URL: natsUrl,
      QUEUE_WORKER_COUNT: String(threads),
      TROUPE_AGENT_ID: `bench-worker-${index}`,
      LOGGING_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  const banner = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker ${index} did not start within 30 s:\n${stdout}`)), 30_000);
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

/** A fresh nats-server, data dir, coordinator and `shape.workers` workers; disposing stops all of it. */
export async function startCluster(found: { binary: string; version: string }, shape: ClusterShape): Promise<Cluster> {
  const nats = await startNats(found);
  const dataDir = await mkdtemp(join(tmpdir(), 'troupe-bench-'));
  const workers: WorkerProcess[] = [];
  let engine: Engine | null = null;
  const dispose = async (): Promise<void> => {
    await Promise.all(workers.map(stopWorker));
    await engine?.close();
    await rm(dataDir, { recursive: true, force: true });
    await nats[Symbol.asyncDispose]();
  };
  try {
    const config = loadConfig({
      TROUPE_DATA_DIR: dataDir,
      NATS_URL: nats.url,
      QUEUE_MAX_QUEUE_SIZE: String(Math.max(shape.queueSize, WARMUP_N * 2)),
      EXECUTION_MAX_CONCURRENT_JOBS: String(CONCURRENCY),
      LOGGING_LEVEL: 'warn',
      TROUPE_STORE_SYNC: process.env.TROUPE_STORE_SYNC,
    });
    engine = await createEngine(config, createLogger(config.LOGGING_LEVEL), { pool: false });
    const started = await Promise.allSettled(Array.from({ length: shape.workers }, (_, i) => startWorker(nats.url, i + 1, shape.threadsPerWorker)));
    for (const s of started) if (s.status === 'fulfilled') workers.push(s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    const cpuOf = (pids: (number | undefined)[]): number | null => {
      let total = 0;
      for (const pid of pids) {
        const ms = procCpuMs(pid);
        if (ms === null) return null;
        total += ms;
      }
      return total;
    };
    return {
      nats,
      engine,
      config,
      workers,
      shape,
      cpu: () => ({ natsMs: nats.cpuMs(), workersMs: cpuOf(workers.map((w) => w.child.pid)) }),
      [Symbol.asyncDispose]: dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}

/**
 * Copies of the job results as workers publish them (a plain subscription to the results subject; the
 * coordinator's durable consumer is not affected): when each worker picked its job up and finished it.
 */
export function watchResults(engine: Engine): { results: Map<string, JobResult>; stop(): void } {
  const results = new Map<string, JobResult>();
  if (!(engine.bus instanceof JetStreamBus)) throw new Error('the engine did not open the JetStream bus');
  const decoder = new TextDecoder();
  const sub: Subscription = engine.bus.connection.subscribe(`${engine.bus.prefix}.results.>`, {
    callback: (err, msg) => {
      if (err) return;
      const result = JSON.parse(decoder.decode(msg.data)) as JobResult;
      results.set(result.executionId, result);
    },
  });
  return { results, stop: () => sub.unsubscribe() };
}
