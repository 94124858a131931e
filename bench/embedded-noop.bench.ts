/**
 * The engine in embedded mode (SQLite store, in-process bus, local Piscina pool) running ONE run of N
 * GENERIC items whose single step is `noop`. Measures submit → run terminal, and created → RUNNING per execution.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/core/config.js';
import { createLogger } from '../src/core/log.js';
import { createEngine } from '../src/engine/create-engine.js';
import { CONCURRENCY, WARMUP_N, benchN, log, main, otherCpuMsSince, summarize, throughput, type ScenarioResult } from './common.js';
import { noopRound, transitionLatencies } from './engine-round.js';

const SCENARIO = 'embedded-noop';

main(SCENARIO, async (): Promise<ScenarioResult> => {
  const n = benchN();
  const dataDir = await mkdtemp(join(tmpdir(), 'troupe-bench-'));
  const config = loadConfig({
    TROUPE_DATA_DIR: dataDir,
    QUEUE_MAX_QUEUE_SIZE: String(Math.max(n, WARMUP_N) * 2),
    EXECUTION_MAX_CONCURRENT_JOBS: String(CONCURRENCY),
    LOGGING_LEVEL: 'warn',
    // Passed through so the durability level can be compared; unset means the product default (FULL).
    TROUPE_STORE_SYNC: process.env.TROUPE_STORE_SYNC,
  });
  const engine = await createEngine(config, createLogger(config.LOGGING_LEVEL));
  try {
    log(`${SCENARIO}: warm-up ${WARMUP_N}`);
    await noopRound(engine, WARMUP_N);
    log(`${SCENARIO}: measuring ${n} (concurrency ${CONCURRENCY}, synchronous=${config.TROUPE_STORE_SYNC})`);
    const r = await noopRound(engine, n);
    const { queue, service, missing } = transitionLatencies(r.events);
    return {
      scenario: SCENARIO,
      n,
      concurrency: config.EXECUTION_MAX_CONCURRENT_JOBS,
      threads: engine.pool?.threads ?? 0,
      wallMs: Math.round(r.wallMs),
      throughput: throughput(n, r.wallMs),
      latency: summarize('queue: created (seq 1, PENDING) → RUNNING, transition `at`, ms', queue),
      service: summarize('RUNNING → terminal, transition `at`, ms', service),
      cpuMs: r.cpuMs,
      otherCpuMs: otherCpuMsSince(r.machineAtStart, r.cpuMs),
      okCount: r.passed,
      allOk: r.passed === n && r.runStatus === 'PASSED',
      details: {
        runStatus: r.runStatus,
        submitMs: Math.round(r.submitMs),
        mainThreadCpuMs: r.mainThreadCpuMs,
        eventsSeen: r.events.length,
        executionsWithoutRunningEvent: missing,
        storeSync: config.TROUPE_STORE_SYNC,
        poolCapacity: engine.pool?.capacity ?? 0,
        rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
      },
    };
  } finally {
    await engine.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
