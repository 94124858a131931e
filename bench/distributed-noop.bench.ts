/**
 * The engine in distributed mode on this one machine: its own `nats-server -js`, a coordinator in this process
 * (`createEngine` with NATS_URL and no local pool, SQLite store, the embedded-noop settings) and BENCH_WORKERS
 * `troupe worker` child processes with BENCH_WORKER_THREADS pool threads each (default 2 × 1). ONE run of N
 * no-op items, measured like embedded-noop (engine-round.ts); also created → picked up by a worker, from the
 * results on the bus. Then, on the same cluster, a steady load of BENCH_STEADY_RATE single submits per second
 * for BENCH_STEADY_SECONDS (default 500 × 10 s; 0 seconds skips it) and its queue latency. Then the scale-out
 * series: the same round on a fresh cluster for each worker count in BENCH_SCALE_OUT (default `1,2,4`; empty
 * skips it), same threads per worker.
 *
 * Defaults: the machines this is developed on have 2 cores, and the embedded scenario runs
 * availableParallelism() = 2 pool threads; two workers of one thread give the same two pool threads, so the
 * comparison isolates what the bus costs. Nothing here assumes a core count: on a bigger machine raise
 * BENCH_WORKER_THREADS and the scale-out counts.
 */
import { CONCURRENCY, WARMUP_N, benchInt, benchN, log, main, otherCpuMsSince, summarize, throughput, type BenchOutput, type LatencySummary, type ResultTable } from './common.js';
import { startCluster, watchResults, type Cluster, type ClusterShape } from './distributed-cluster.js';
import { noopRound, transitionLatencies } from './engine-round.js';
import { natsServer } from './nats-server.js';
import { steadyLoad, type SteadyResult } from './steady-load.js';

const SCENARIO = 'distributed-noop';

interface Measured {
  shape: ClusterShape;
  n: number;
  wallMs: number;
  throughput: number;
  queue: LatencySummary;
  service: LatencySummary;
  pickup: LatencySummary;
  onWorker: LatencySummary;
  coordinatorCpuMs: number;
  workersCpuMs: number | null;
  natsCpuMs: number | null;
  cpuMs: number;
  otherCpuMs: number | null;
  /** Messages into and out of nats-server per execution (publishes, acks, pulls, deliveries, replies). */
  natsMsgsInPerExec: number;
  natsMsgsOutPerExec: number;
  passed: number;
  allOk: boolean;
  runStatus: string;
  submitMs: number;
  /** CPU of the coordinator's main thread over the round (null off Linux). */
  mainThreadCpuMs: number | null;
  eventsSeen: number;
  missing: number;
  jobsPerAgent: Map<string, number>;
}

const perExec = (ms: number | null, n: number): number | null => (ms === null ? null : Math.round((ms * 1000) / n));

/** The measured round of N on a started cluster (after its warm-up). */
async function measure(cluster: Cluster, n: number): Promise<Measured> {
  const { engine, nats } = cluster;
  const watch = watchResults(engine);
  const before = cluster.cpu();
  const msgsBefore = await nats.messages();
  const r = await noopRound(engine, n);
  const after = cluster.cpu();
  const msgsAfter = await nats.messages();
  watch.stop();
  const delta = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : a - b);
  const natsCpuMs = delta(after.natsMs, before.natsMs);
  const workersCpuMs = delta(after.workersMs, before.workersMs);
  const cpuMs = r.cpuMs + (natsCpuMs ?? 0) + (workersCpuMs ?? 0);
  const { created, queue, service, missing } = transitionLatencies(r.events);
  const pickup: number[] = [];
  const onWorker: number[] = [];
  const jobsPerAgent = new Map<string, number>();
  for (const [id, at] of created) {
    const result = watch.results.get(id);
    if (result === undefined) continue;
    pickup.push(result.startedAt - at);
    onWorker.push(result.finishedAt - result.startedAt);
    jobsPerAgent.set(result.agentId, (jobsPerAgent.get(result.agentId) ?? 0) + 1);
  }
  return {
    shape: cluster.shape,
    n,
    wallMs: Math.round(r.wallMs),
    throughput: throughput(n, r.wallMs),
    queue: summarize('queue: created (seq 1, PENDING) → RUNNING (job published), transition `at`, ms', queue),
    service: summarize('RUNNING → terminal (bus round trip included), transition `at`, ms', service),
    pickup: summarize('created → job picked up by a worker (JobResult.startedAt), ms', pickup),
    onWorker: summarize('job on the worker, startedAt → finishedAt, ms', onWorker),
    coordinatorCpuMs: r.cpuMs,
    workersCpuMs,
    natsCpuMs,
    cpuMs,
    otherCpuMs: otherCpuMsSince(r.machineAtStart, cpuMs),
    natsMsgsInPerExec: Number(((msgsAfter.in - msgsBefore.in) / n).toFixed(2)),
    natsMsgsOutPerExec: Number(((msgsAfter.out - msgsBefore.out) / n).toFixed(2)),
    passed: r.passed,
    allOk: r.passed === n && r.runStatus === 'PASSED',
    runStatus: r.runStatus,
    submitMs: Math.round(r.submitMs),
    mainThreadCpuMs: r.mainThreadCpuMs,
    eventsSeen: r.events.length,
    missing,
    jobsPerAgent,
  };
}

/** A fresh cluster of `shape`, warmed up, then `body`; everything is stopped afterwards. */
async function withCluster<T>(found: { binary: string; version: string }, shape: ClusterShape, body: (cluster: Cluster) => Promise<T>): Promise<T> {
  await using cluster = await startCluster(found, shape);
  for (const w of cluster.workers) log(`${SCENARIO}: ${w.banner}`);
  log(`${SCENARIO}: ${shape.workers} worker(s) × ${shape.threadsPerWorker} thread(s): warm-up ${WARMUP_N}`);
  await noopRound(cluster.engine, WARMUP_N);
  return await body(cluster); // awaited: the cluster is disposed when this returns
}

function scaleOutTable(rows: Measured[]): ResultTable {
  const base = rows.find((m) => m.shape.workers === 1)?.throughput ?? null;
  return {
    title: `scale-out: the round of N on a fresh cluster per row, ${rows[0]?.shape.threadsPerWorker ?? 1} thread(s) per worker`,
    head: ['workers', 'slots', 'exec/s', 'vs 1 worker', 'coord µs/exec', 'workers µs/exec', 'nats µs/exec', 'pickup p50 ms', 'pickup p99 ms', 'jobs/agent min–max', 'all ok'],
    rows: rows.map((m) => {
      const split = [...m.jobsPerAgent.values()];
      return [
        m.shape.workers,
        m.shape.workers * m.shape.threadsPerWorker * 16,
        m.throughput,
        base === null ? null : `${(m.throughput / base).toFixed(2)}×`,
        perExec(m.coordinatorCpuMs, m.n),
        perExec(m.workersCpuMs, m.n),
        perExec(m.natsCpuMs, m.n),
        m.pickup.p50,
        m.pickup.p99,
        split.length ? `${Math.min(...split)}–${Math.max(...split)}` : null,
        m.allOk ? 'yes' : `NO (${m.passed})`,
      ];
    }),
    note: 'Every row shares this machine\'s cores with the coordinator and nats-server: where the cores run out, more workers add contention, not throughput.',
  };
}

function steadyTable(s: SteadyResult, shape: ClusterShape): ResultTable {
  const row = (what: string, l: LatencySummary) => [what, l.count, l.p50, l.p99, l.max];
  return {
    title: `steady load: ${s.rate} single submits/s for ${s.seconds} s (achieved ${s.achievedRate}/s, ${s.lateSubmits} submits > 5 ms late), ${shape.workers} worker(s) × ${shape.threadsPerWorker} thread(s)`,
    head: ['latency, ms', 'count', 'p50', 'p99', 'max'],
    rows: [row('queue: created → RUNNING', s.queue), row('created → picked up by a worker', s.pickup), row('created → PASSED', s.endToEnd)],
    note: `${s.passed} of ${s.submitted} PASSED, ${s.refused} refused; coordinator CPU ${perExec(s.coordinatorCpuMs, Math.max(1, s.submitted))} µs per execution`,
  };
}

main(SCENARIO, async (): Promise<BenchOutput> => {
  const n = benchN();
  const found = natsServer();
  if (found === null) return { scenario: SCENARIO, skipped: 'nats-server is not installed (set NATS_SERVER_BIN)' };
  const workers = benchInt('BENCH_WORKERS', 2);
  const threadsPerWorker = benchInt('BENCH_WORKER_THREADS', 1);
  const steadyRate = benchInt('BENCH_STEADY_RATE', 500);
  const steadySeconds = benchInt('BENCH_STEADY_SECONDS', 10, 0);
  const scaleOut = (process.env.BENCH_SCALE_OUT ?? '1,2,4')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const k = Number(s);
      if (!Number.isInteger(k) || k < 1) throw new Error(`BENCH_SCALE_OUT must list positive whole numbers, got ${s}`);
      return k;
    });
  const shape = (k: number): ClusterShape => ({ workers: k, threadsPerWorker, queueSize: 2 * Math.max(n, steadyRate * steadySeconds) });

  const { main: m, steady } = await withCluster(found, shape(workers), async (cluster) => {
    log(`${SCENARIO}: measuring ${n} (concurrency ${CONCURRENCY}, ${workers} workers × ${threadsPerWorker} thread(s), nats-server ${found.version})`);
    const measured = await measure(cluster, n);
    let steadyResult: SteadyResult | null = null;
    if (steadySeconds > 0) {
      log(`${SCENARIO}: steady load, ${steadyRate} submits/s for ${steadySeconds} s`);
      steadyResult = await steadyLoad(cluster, steadyRate, steadySeconds);
    }
    return { main: measured, steady: steadyResult };
  });
  const series: Measured[] = [];
  for (const k of [...new Set(scaleOut)].sort((a, b) => a - b)) {
    if (k === workers) {
      series.push(m);
      continue;
    }
    log(`${SCENARIO}: scale-out, ${k} worker(s)`);
    series.push(await withCluster(found, shape(k), (cluster) => measure(cluster, n)));
  }

  const tables: ResultTable[] = [];
  if (series.length) tables.push(scaleOutTable(series));
  if (steady) tables.push(steadyTable(steady, shape(workers)));
  const scale: Record<string, number | boolean> = {};
  for (const s of series) {
    scale[`scaleOut${s.shape.workers}ExecPerS`] = s.throughput;
    scale[`scaleOut${s.shape.workers}AllOk`] = s.allOk;
  }
  return {
    scenario: SCENARIO,
    n,
    concurrency: CONCURRENCY,
    threads: workers * threadsPerWorker,
    wallMs: m.wallMs,
    throughput: m.throughput,
    latency: m.queue,
    service: m.service,
    cpuMs: m.cpuMs,
    otherCpuMs: m.otherCpuMs,
    okCount: m.passed,
    allOk: m.allOk && series.every((s) => s.allOk) && (steady === null || steady.passed === steady.submitted),
    details: {
      runStatus: m.runStatus,
      submitMs: m.submitMs,
      mainThreadCpuMs: m.mainThreadCpuMs,
      eventsSeen: m.eventsSeen,
      executionsWithoutRunningEvent: m.missing,
      resultsSeen: m.pickup.count,
      pickupP50: m.pickup.p50,
      pickupP99: m.pickup.p99,
      onWorkerP50: m.onWorker.p50,
      onWorkerP99: m.onWorker.p99,
      jobsPerAgent: JSON.stringify(Object.fromEntries([...m.jobsPerAgent].sort())),
      coordinatorCpuMs: m.coordinatorCpuMs,
      workersCpuMs: m.workersCpuMs,
      natsCpuMs: m.natsCpuMs,
      coordinatorCpuUsPerExec: perExec(m.coordinatorCpuMs, n),
      natsMsgsInPerExec: m.natsMsgsInPerExec,
      natsMsgsOutPerExec: m.natsMsgsOutPerExec,
      workers,
      threadsPerWorker,
      slots: `${workers} × ${threadsPerWorker} thread(s) × 16 tasks`,
      natsServer: found.version,
      storeSync: process.env.TROUPE_STORE_SYNC ?? 'FULL',
      ...(steady
        ? {
            steadyRate: steady.rate,
            steadyAchievedRate: steady.achievedRate,
            steadyQueueP50: steady.queue.p50,
            steadyQueueP99: steady.queue.p99,
            steadyPickupP99: steady.pickup.p99,
            steadyEndToEndP99: steady.endToEnd.p99,
            steadyAllPassed: steady.passed === steady.submitted && steady.refused === 0,
          }
        : {}),
      ...scale,
      rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
    },
    tables,
  };
});
