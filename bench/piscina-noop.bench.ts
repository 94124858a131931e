/**
 * Bare Piscina peer: the engine's thread count and per-thread concurrency, no store, no bus, no actors.
 * N no-op tasks with at most CONCURRENCY in flight; measures submit → task start inside the worker.
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { CONCURRENCY, WARMUP_N, benchN, cpuMsSince, log, machineBusyMs, main, otherCpuMsSince, preciseNow, summarize, throughput, type ScenarioResult } from './common.js';

const SCENARIO = 'piscina-noop';
/** The engine's WorkerPool default `tasksPerThread`. */
const TASKS_PER_THREAD = 16;

interface Round {
  wallMs: number;
  queue: Float64Array;
  service: Float64Array;
  cpuMs: number;
  otherCpuMs: number | null;
}

/** Keeps CONCURRENCY tasks in flight until n have finished. */
function round(piscina: Piscina, n: number): Promise<Round> {
  const queue = new Float64Array(n);
  const service = new Float64Array(n);
  const machine = machineBusyMs();
  const cpu = process.cpuUsage();
  const start = performance.now();
  let next = 0;
  let done = 0;
  return new Promise((resolve, reject) => {
    const launch = (): void => {
      const i = next++;
      const submittedAt = preciseNow();
      (piscina.run(null) as Promise<unknown>).then((startedAt) => {
        if (typeof startedAt !== 'number') throw new Error(`worker returned ${String(startedAt)}`);
        queue[i] = startedAt - submittedAt;
        service[i] = preciseNow() - startedAt;
        done++;
        if (next < n) launch();
        else if (done === n) {
          const cpuMs = cpuMsSince(cpu);
          resolve({ wallMs: performance.now() - start, queue, service, cpuMs, otherCpuMs: otherCpuMsSince(machine, cpuMs) });
        }
      }).catch(reject);
    };
    for (let k = 0; k < Math.min(CONCURRENCY, n); k++) launch();
  });
}

main(SCENARIO, async (): Promise<ScenarioResult> => {
  const n = benchN();
  const threads = availableParallelism();
  const piscina = new Piscina({
    filename: fileURLToPath(new URL('./noop.worker.js', import.meta.url)),
    minThreads: threads,
    maxThreads: threads,
    concurrentTasksPerWorker: TASKS_PER_THREAD,
    idleTimeout: Number.POSITIVE_INFINITY,
  });
  try {
    log(`${SCENARIO}: warm-up ${WARMUP_N}`);
    await round(piscina, WARMUP_N);
    log(`${SCENARIO}: measuring ${n} (${threads} threads, ${CONCURRENCY} in flight)`);
    const r = await round(piscina, n);
    return {
      scenario: SCENARIO,
      n,
      concurrency: CONCURRENCY,
      threads,
      wallMs: Math.round(r.wallMs),
      throughput: throughput(n, r.wallMs),
      latency: summarize('submit (piscina.run, ≤50 in flight) → task start in worker, ms', r.queue),
      service: summarize('task start in worker → result on main thread, ms', r.service),
      cpuMs: r.cpuMs,
      otherCpuMs: r.otherCpuMs,
      okCount: n,
      allOk: true,
      details: { tasksPerThread: TASKS_PER_THREAD, rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20) },
    };
  } finally {
    await piscina.destroy();
  }
});
