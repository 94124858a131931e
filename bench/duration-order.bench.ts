/**
 * Duration-aware ordering: one run whose durations are skewed — BENCH_LONG tests of BENCH_LONG_MS and
 * BENCH_SHORT tests of BENCH_SHORT_MS, the long ones submitted last — on a pool of BENCH_SLOTS concurrent jobs.
 * The same run is measured in submission order (QUEUE_ORDER_BY_DURATION=false) and ordered by the durations the
 * series recorded (the product default), on one data dir whose history a first run primed, alternating, each
 * BENCH_ROUNDS times. The figure is the wall-time ratio ordered/plain (lower is better).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/core/config.js';
import { createLogger } from '../src/core/log.js';
import { createEngine, type Engine } from '../src/engine/create-engine.js';
import { historyWritten } from './engine-round.js';
import { benchInt, cpuMsSince, log, main, summarize, throughput, type ScenarioResult } from './common.js';

const SCENARIO = 'duration-order';
const LONG = benchInt('BENCH_LONG', 2);
const LONG_MS = benchInt('BENCH_LONG_MS', 3000);
const SHORT = benchInt('BENCH_SHORT', 120);
const SHORT_MS = benchInt('BENCH_SHORT_MS', 50);
const SLOTS = benchInt('BENCH_SLOTS', 4);
const ROUNDS = benchInt('BENCH_ROUNDS', 3);

const sleep = (name: string, ms: number) => ({ name, type: 'GENERIC', steps: [{ action: 'sleep', ms }] });
const ITEMS = [
  ...Array.from({ length: SHORT }, (_, i) => sleep(`short ${i}`, SHORT_MS)),
  ...Array.from({ length: LONG }, (_, i) => sleep(`long ${i}`, LONG_MS)),
];
const RUN = { name: 'skewed suite', labels: { repository: 'bench/durations' }, items: ITEMS };
const ADMIN = { id: 'bench', roles: ['admin'] as const };

/** An engine on `dataDir`, ordering by duration or not, its worker threads started by a run of another series. */
async function engine(dataDir: string, ordered: boolean): Promise<Engine> {
  const config = loadConfig({
    TROUPE_DATA_DIR: dataDir,
    EXECUTION_MAX_CONCURRENT_JOBS: String(SLOTS),
    QUEUE_ORDER_BY_DURATION: String(ordered),
    LOGGING_LEVEL: 'warn',
  });
  const e = await createEngine(config, createLogger(config.LOGGING_LEVEL));
  const warmUp = await e.coordinator.submitRun({ name: 'warm-up', items: Array.from({ length: SLOTS }, (_, i) => sleep(`warm-up ${i}`, 0)) }, { ...ADMIN, roles: [...ADMIN.roles] });
  await e.coordinator.waitForRun(warmUp.id);
  return e;
}

/** One run of the suite: its wall time, submit → ended, with its history written before the next run. */
async function round(e: Engine): Promise<number> {
  const start = performance.now();
  const run = await e.coordinator.submitRun(RUN, { ...ADMIN, roles: [...ADMIN.roles] });
  const status = await e.coordinator.waitForRun(run.id);
  const wallMs = performance.now() - start;
  if (status !== 'PASSED') throw new Error(`run ${run.id} ended ${String(status)}`);
  await historyWritten(e);
  return wallMs;
}

main(SCENARIO, async (): Promise<ScenarioResult> => {
  const dataDir = await mkdtemp(join(tmpdir(), 'troupe-bench-'));
  const plain: number[] = [];
  const ordered: number[] = [];
  const cpu = process.cpuUsage();
  try {
    log(`${SCENARIO}: priming the history (${SHORT} × ${SHORT_MS} ms, ${LONG} × ${LONG_MS} ms, ${SLOTS} slots)`);
    const primer = await engine(dataDir, false);
    await round(primer);
    await primer.close();
    for (let r = 0; r < ROUNDS; r++) {
      for (const order of [false, true]) {
        const e = await engine(dataDir, order);
        try {
          const ms = await round(e);
          (order ? ordered : plain).push(ms);
          log(`${SCENARIO}: round ${r + 1} ${order ? 'ordered' : 'plain'} ${Math.round(ms)} ms`);
        } finally {
          await e.close();
        }
      }
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const orderedMs = median(ordered);
  const plainMs = median(plain);
  // The ideal: the long tests on their own slots from the start, the short ones spread over the rest.
  const idealMs = Math.max(LONG_MS, (SHORT * SHORT_MS) / Math.max(1, SLOTS - LONG));
  return {
    scenario: SCENARIO,
    n: ITEMS.length,
    concurrency: SLOTS,
    wallMs: Math.round(orderedMs),
    throughput: throughput(ITEMS.length, orderedMs),
    latency: summarize('run wall time, submit → ended, ordered by duration (one sample per round), ms', ordered),
    service: summarize('run wall time, submit → ended, in submission order (one sample per round), ms', plain),
    cpuMs: cpuMsSince(cpu),
    okCount: ITEMS.length,
    allOk: true,
    details: {
      orderedWallMs: Math.round(orderedMs),
      plainWallMs: Math.round(plainMs),
      ratio: Number((orderedMs / plainMs).toFixed(3)),
      idealWallMs: Math.round(idealMs),
      long: LONG,
      longMs: LONG_MS,
      short: SHORT,
      shortMs: SHORT_MS,
      slots: SLOTS,
      rounds: ROUNDS,
    },
  };
});
