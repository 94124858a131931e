/**
 * The BullMQ peers, on their own local redis-server (see redis-server.ts for the persistence modes): addBulk N
 * no-op jobs, one Worker with concurrency CONCURRENCY. Measures first add → last completed, and
 * job.timestamp → job.processedOn. Run by bullmq-noop.bench.ts and bullmq-aof-noop.bench.ts.
 */
import { randomUUID } from 'node:crypto';
import { Queue, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { CONCURRENCY, WARMUP_N, benchN, cpuMsSince, log, machineBusyMs, main, otherCpuMsSince, summarize, throughput, type BenchOutput } from './common.js';
import { PERSISTENCE_ARGS, redisVersion, startRedis, type RedisPersistence, type RedisServer } from './redis-server.js';

interface Round {
  wallMs: number;
  addMs: number;
  queue: number[];
  service: number[];
  cpuMs: number;
  redisCpuMs: number | null;
  otherCpuMs: number | null;
}

async function round(redis: RedisServer, queue: Queue, worker: Worker, n: number): Promise<Round> {
  const waits: number[] = [];
  const service: number[] = [];
  let done = (): void => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const onCompleted = (job: Job): void => {
    if (job.processedOn !== undefined) {
      waits.push(job.processedOn - job.timestamp);
      if (job.finishedOn !== undefined) service.push(job.finishedOn - job.processedOn);
    }
    if (waits.length === n) done();
  };
  worker.on('completed', onCompleted);
  const machine = machineBusyMs();
  const cpu = process.cpuUsage();
  const redisCpu = redis.cpuMs();
  const start = performance.now();
  await queue.addBulk(Array.from({ length: n }, (_, i) => ({ name: 'noop', data: { i } })));
  const addMs = performance.now() - start;
  await finished;
  const wallMs = performance.now() - start;
  const cpuMs = cpuMsSince(cpu);
  const redisNow = redis.cpuMs();
  const redisCpuMs = redisNow === null || redisCpu === null ? null : redisNow - redisCpu;
  const otherCpuMs = otherCpuMsSince(machine, cpuMs + (redisCpuMs ?? 0));
  worker.off('completed', onCompleted);
  return { wallMs, addMs, queue: waits, service, cpuMs, redisCpuMs, otherCpuMs };
}

async function scenario(id: string, persistence: RedisPersistence): Promise<BenchOutput> {
  const n = benchN();
  const version = redisVersion();
  if (version === null) return { scenario: id, skipped: 'redis-server is not on PATH' };
  await using redis = await startRedis(version, persistence);
  const connection: ConnectionOptions = { host: redis.host, port: redis.port };
  const name = `bench-${randomUUID().slice(0, 8)}`;
  const queue = new Queue(name, { connection });
  const worker = new Worker(name, () => Promise.resolve(), { connection, concurrency: CONCURRENCY });
  let failed = 0;
  worker.on('failed', () => failed++);
  try {
    await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()]);
    log(`${id}: warm-up ${WARMUP_N}`);
    await round(redis, queue, worker, WARMUP_N);
    log(`${id}: measuring ${n} (concurrency ${CONCURRENCY}, redis ${redis.version} on port ${redis.port})`);
    const r = await round(redis, queue, worker, n);
    const completed = await queue.getCompletedCount();
    const dataBytes = await redis.dataBytes();
    return {
      scenario: id,
      n,
      concurrency: CONCURRENCY,
      wallMs: Math.round(r.wallMs),
      throughput: throughput(n, r.wallMs),
      latency: summarize('queue: job.timestamp (add) → job.processedOn (active), ms', r.queue),
      service: summarize('job.processedOn → job.finishedOn, ms', r.service),
      cpuMs: r.cpuMs + (r.redisCpuMs ?? 0),
      otherCpuMs: r.otherCpuMs,
      okCount: r.queue.length,
      allOk: r.queue.length === n && failed === 0 && completed === n + WARMUP_N,
      details: {
        addBulkMs: Math.round(r.addMs),
        nodeCpuMs: r.cpuMs,
        redisCpuMs: r.redisCpuMs,
        failed,
        completedInRedis: completed,
        redis: redis.version,
        persistence: `${persistence} (${PERSISTENCE_ARGS[persistence].map((a) => (a === '' ? "''" : a)).join(' ')})`,
        redisDataMiB: dataBytes === null ? null : Number((dataBytes / 2 ** 20).toFixed(1)),
        rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
      },
    };
  } finally {
    await worker.close();
    await queue.close();
  }
}

export function runBullmq(id: string, persistence: RedisPersistence): void {
  main(id, () => scenario(id, persistence));
}
