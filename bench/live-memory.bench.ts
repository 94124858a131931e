/**
 * Memory held per live execution: one engine (`createEngine`, embedded mode: SQLite store, in-process bus,
 * Piscina pool; no HTTP) on a fresh data dir holds N SCHEDULED executions — GENERIC no-op items due in one day,
 * submitted with `coordinator.submitRun` as runs of BENCH_MEMORY_CHUNK items (each item a separate object, as
 * parsed from a request body). After a warm-up run of 200 no-op items executed to the end, the heap used and
 * the resident set size are read after full garbage collections (the process runs with --expose-gc) as the
 * baseline, then again once N/2 and once N executions are held: growth over the baseline per held execution,
 * at two sizes to show whether it is linear. Every execution must be live in the engine and stored SCHEDULED.
 * Env: BENCH_MEMORY_N (N, default 100 000), BENCH_MEMORY_CHUNK (items per run, default 1000),
 * BENCH_HEAP_SNAPSHOTS (a directory: heap snapshots at the baseline and at N, `baseline.heapsnapshot` and
 * `held.heapsnapshot`, for bench/heap-diff.ts; use a small N). BENCH_N is not used.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeHeapSnapshot } from 'node:v8';
import { loadConfig } from '../src/core/config.js';
import { createLogger } from '../src/core/log.js';
import { createEngine, type Engine } from '../src/engine/create-engine.js';
import { WARMUP_N, log, main, type MemoryPoint, type MemoryResult } from './common.js';

const SCENARIO = 'live-memory';
const DUE_IN_MS = 24 * 3600_000;
const AIM_HEAP_BYTES = 4 * 1024;
const PRINCIPAL = { id: 'bench', roles: ['runner'] as const };

function whole(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 2) throw new Error(`${name} must be a whole number of at least 2, got ${raw}`);
  return value;
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Memory after every accepted write is stored and a few full collections. */
async function settled(engine: Engine): Promise<NodeJS.MemoryUsage> {
  if (!gc) throw new Error('run with --expose-gc (bench/run.ts passes it to this scenario)');
  await engine.store.flush();
  for (let i = 0; i < 4; i++) {
    gc();
    await sleep(50); // lets finalizers and deferred frees run between collections
  }
  gc();
  return process.memoryUsage();
}

const kb = (bytes: number): number => Number((bytes / 1024).toFixed(2));

/** Writes `<BENCH_HEAP_SNAPSHOTS>/<name>.heapsnapshot` when that directory is given. */
function snapshot(name: string): void {
  const dir = process.env.BENCH_HEAP_SNAPSHOTS;
  if (dir === undefined || dir === '') return;
  log(`${SCENARIO}: heap snapshot ${writeHeapSnapshot(join(dir, `${name}.heapsnapshot`))}`);
}

main(SCENARIO, async (): Promise<MemoryResult> => {
  const n = whole('BENCH_MEMORY_N', 100_000);
  const chunk = Math.min(n, whole('BENCH_MEMORY_CHUNK', 1000));
  const sizes = [Math.floor(n / 2), n];
  const dataDir = await mkdtemp(join(tmpdir(), 'troupe-bench-memory-'));
  const config = loadConfig({
    TROUPE_DATA_DIR: dataDir,
    QUEUE_MAX_QUEUE_SIZE: String(n + WARMUP_N),
    LOGGING_LEVEL: 'warn',
    TROUPE_STORE_SYNC: process.env.TROUPE_STORE_SYNC,
  });
  const engine = await createEngine(config, createLogger(config.LOGGING_LEVEL));
  try {
    log(`${SCENARIO}: warm-up, ${WARMUP_N} no-op items run to the end`);
    const warm = await engine.coordinator.submitRun(
      { name: 'warm-up', items: Array.from({ length: WARMUP_N }, (_, i) => ({ name: `noop-${i}`, type: 'GENERIC', steps: [{ action: 'noop' }] })) },
      PRINCIPAL,
    );
    const warmStatus = await engine.coordinator.waitForRun(warm.id);
    if (warmStatus !== 'PASSED') throw new Error(`the warm-up run ended ${warmStatus}`);
    const base = await settled(engine);
    snapshot('baseline');
    log(`${SCENARIO}: baseline heap used ${kb(base.heapUsed)} KB, RSS ${kb(base.rss)} KB, live executions ${engine.coordinator.stats().live}`);

    const scheduledAt = new Date(Date.now() + DUE_IN_MS).toISOString();
    const runIds: string[] = [];
    const points: MemoryPoint[] = [];
    let held = 0;
    let submitMs = 0;
    for (const size of sizes) {
      while (held < size) {
        const count = Math.min(chunk, size - held);
        const items = Array.from({ length: count }, (_, i) => ({ name: `noop-${held + i}`, type: 'GENERIC', steps: [{ action: 'noop' }], scheduledAt }));
        // Parsed from JSON, as a request body is: no object shared between items.
        const body: unknown = JSON.parse(JSON.stringify({ name: `held ${held}`, items }));
        const start = performance.now();
        runIds.push((await engine.coordinator.submitRun(body, PRINCIPAL)).id);
        submitMs += performance.now() - start;
        held += count;
      }
      const m = await settled(engine);
      if (held === n) snapshot('held');
      const point: MemoryPoint = {
        n: held,
        heapUsedBytes: m.heapUsed - base.heapUsed,
        rssBytes: m.rss - base.rss,
        externalBytes: m.external - base.external,
        heapPerExecBytes: Math.round((m.heapUsed - base.heapUsed) / held),
        rssPerExecBytes: Math.round((m.rss - base.rss) / held),
      };
      points.push(point);
      log(
        `${SCENARIO}: ${held} held: heap used +${kb(point.heapUsedBytes)} KB (${kb(point.heapPerExecBytes)} KB/exec), ` +
          `RSS +${kb(point.rssBytes)} KB (${kb(point.rssPerExecBytes)} KB/exec), external +${kb(point.externalBytes)} KB, ` +
          `heap total ${kb(m.heapTotal)} KB; live executions ${engine.coordinator.stats().live}`,
      );
    }

    const live = engine.coordinator.stats().live;
    let stored = 0;
    for (const id of runIds) stored += (await engine.store.runCounts(id)).SCHEDULED ?? 0;
    const [half, full] = points as [MemoryPoint, MemoryPoint];
    const marginalHeap = Math.round((full.heapUsedBytes - half.heapUsedBytes) / (full.n - half.n));
    const marginalRss = Math.round((full.rssBytes - half.rssBytes) / (full.n - half.n));
    log(
      `${SCENARIO}: from ${half.n} to ${full.n}: ${kb(marginalHeap)} KB heap and ${kb(marginalRss)} KB RSS per added execution; ` +
        `live ${live}, stored SCHEDULED ${stored}; aim <= ${kb(AIM_HEAP_BYTES)} KB heap per execution: ${full.heapPerExecBytes <= AIM_HEAP_BYTES ? 'met' : 'NOT met'}`,
    );
    return {
      scenario: SCENARIO,
      kind: 'memory',
      n,
      holds: 'SCHEDULED GENERIC no-op executions, due in one day',
      points,
      allOk: live === n && stored === n,
      details: {
        chunk,
        runs: runIds.length,
        submitMs: Math.round(submitMs),
        liveExecutions: live,
        storedScheduled: stored,
        baselineHeapUsedBytes: base.heapUsed,
        baselineRssBytes: base.rss,
        marginalHeapPerExecBytes: marginalHeap,
        marginalRssPerExecBytes: marginalRss,
        heapPerExecKB: kb(full.heapPerExecBytes),
        rssPerExecKB: kb(full.rssPerExecBytes),
        aimHeapPerExecBytes: AIM_HEAP_BYTES,
        storeSync: config.TROUPE_STORE_SYNC,
        threads: engine.pool?.threads ?? 0,
      },
    };
  } finally {
    await engine.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
