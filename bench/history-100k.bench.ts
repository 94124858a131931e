/**
 * Test history at scale: two runs of BENCH_TESTS tests (default 100,000) in one series, the second with
 * BENCH_CHANGED of them failing. Measures, on the engine's own store: recording a run's history when it ends
 * (on the writer thread), its report, its comparison with the first run, the series' history read the
 * scheduler orders by, and submitting a third run of the series (which reads that history to order it) against
 * submitting the first (no history to read).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/core/config.js';
import { createLogger } from '../src/core/log.js';
import { seriesOf } from '../src/core/series.js';
import { createEngine, type Engine } from '../src/engine/create-engine.js';
import { storedComparison, storedRunReport } from '../src/report/stored-tests.js';
import type { RunRecord } from '../src/store/store.port.js';
import { historyWritten } from './engine-round.js';
import { CONCURRENCY, benchInt, cpuMsSince, log, main, summarize, throughput, type ScenarioResult } from './common.js';

const SCENARIO = 'history-100k';
const TESTS = benchInt('BENCH_TESTS', 100_000);
const CHANGED = benchInt('BENCH_CHANGED', 1000);
const ADMIN = { id: 'bench', roles: ['admin' as const] };
const LABELS = { repository: 'bench/history' };

const noop = (i: number) => ({ name: `test ${i}`, type: 'GENERIC', steps: [{ action: 'noop' }] });
// Port 1 on loopback refuses the connection at once: the test ends ERROR without a retry.
const failing = (i: number) => ({ name: `test ${i}`, type: 'GENERIC', retry: { maxAttempts: 1 }, steps: [{ action: 'http', request: { method: 'GET', url: 'http://127.0.0.1:1/' } }] });

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await work();
  return [value, performance.now() - start];
}

/** Runs the series once; its wall time, and the time its history took to be written after it ended. */
async function run(engine: Engine, items: unknown[]): Promise<{ run: RunRecord; wallMs: number; submitMs: number; historyMs: number }> {
  const start = performance.now();
  const submitted = await engine.coordinator.submitRun({ name: 'large suite', labels: LABELS, items }, ADMIN);
  const submitMs = performance.now() - start;
  await engine.coordinator.waitForRun(submitted.id);
  const wallMs = performance.now() - start;
  const [, historyMs] = await timed(() => historyWritten(engine));
  return { run: (await engine.store.getRun(submitted.id)) as RunRecord, wallMs, submitMs, historyMs };
}

main(SCENARIO, async (): Promise<ScenarioResult> => {
  const dataDir = await mkdtemp(join(tmpdir(), 'troupe-bench-'));
  const config = loadConfig({
    TROUPE_DATA_DIR: dataDir,
    QUEUE_MAX_QUEUE_SIZE: String(TESTS * 2),
    EXECUTION_MAX_CONCURRENT_JOBS: String(CONCURRENCY),
    LOGGING_LEVEL: 'warn',
  });
  const engine = await createEngine(config, createLogger(config.LOGGING_LEVEL));
  const cpu = process.cpuUsage();
  try {
    log(`${SCENARIO}: first run of ${TESTS}`);
    const first = await run(engine, Array.from({ length: TESTS }, (_, i) => noop(i)));
    log(`${SCENARIO}: second run, ${CHANGED} failing`);
    const second = await run(engine, Array.from({ length: TESTS }, (_, i) => (i % Math.max(1, Math.floor(TESTS / CHANGED)) === 0 ? failing(i) : noop(i))));
    const [comparison, compareMs] = await timed(() => storedComparison(engine.store, second.run, first.run));
    const [report, reportMs] = await timed(() => storedRunReport(engine.store, second.run, second.run.id));
    const [history, historyReadMs] = await timed(() => engine.store.testHistory(seriesOf(second.run)));
    log(`${SCENARIO}: compare ${Math.round(compareMs)} ms, report ${Math.round(reportMs)} ms, history read ${Math.round(historyReadMs)} ms`);
    const [third, submitMs] = await timed(() => engine.coordinator.submitRun({ name: 'large suite', labels: LABELS, items: Array.from({ length: TESTS }, (_, i) => noop(i)) }, ADMIN));
    await engine.coordinator.waitForRun(third.id);
    const ok = comparison.newFailures.length === report.summary.errors && history.size === TESTS && report.comparison?.baseRunId === first.run.id;
    return {
      scenario: SCENARIO,
      n: TESTS,
      concurrency: CONCURRENCY,
      wallMs: Math.round(second.wallMs),
      throughput: throughput(TESTS, second.wallMs),
      latency: summarize('GET compare of two 100k-test runs, in process, ms (one sample)', [compareMs]),
      service: summarize('report of a 100k-test run with its comparison, in process, ms (one sample)', [reportMs]),
      cpuMs: cpuMsSince(cpu),
      okCount: ok ? TESTS : 0,
      allOk: ok,
      details: {
        compareMs: Math.round(compareMs),
        reportMs: Math.round(reportMs),
        historyWriteMs: Math.round(second.historyMs),
        historyReadMs: Math.round(historyReadMs),
        submitUnorderedMs: Math.round(first.submitMs),
        submitOrderedMs: Math.round(submitMs),
        newFailures: comparison.newFailures.length,
        firstRunWallMs: Math.round(first.wallMs),
      },
    };
  } finally {
    await engine.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
