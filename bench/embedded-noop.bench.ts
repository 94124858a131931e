/**
 * The engine in embedded mode (SQLite store, in-process bus, local Piscina pool) running ONE run of N
 * GENERIC items whose single step is `noop`. Measures submit → run terminal, and created → RUNNING per execution.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TransitionEvent } from '../src/bus/bus.port.js';
import { loadConfig } from '../src/core/config.js';
import { createLogger } from '../src/core/log.js';
import { isTerminal } from '../src/core/statuses.js';
import { createEngine, type Engine } from '../src/engine/create-engine.js';
import { CONCURRENCY, WARMUP_N, benchN, cpuMsSince, log, machineBusyMs, main, otherCpuMsSince, summarize, throughput, type ScenarioResult } from './common.js';

const SCENARIO = 'embedded-noop';

interface Round {
  n: number;
  runStatus: string;
  submitMs: number;
  wallMs: number;
  events: TransitionEvent[];
  runId: string;
  passed: number;
  cpuMs: number;
  otherCpuMs: number | null;
}

async function round(engine: Engine, n: number): Promise<Round> {
  const events: TransitionEvent[] = [];
  // Subscribed before submitting: creation events are published during submitRun.
  const unsubscribe = engine.bus.subscribeTransitions((event) => events.push(event));
  const items = Array.from({ length: n }, (_, i) => ({ name: `noop-${i}`, type: 'GENERIC', steps: [{ action: 'noop' }] }));
  const body = { name: `bench ${n}`, items };
  try {
    const machine = machineBusyMs();
    const cpu = process.cpuUsage();
    const start = performance.now();
    const run = await engine.coordinator.submitRun(body, { id: 'bench', roles: ['admin'] });
    const submitMs = performance.now() - start;
    const runStatus = await engine.coordinator.waitForRun(run.id);
    const wallMs = performance.now() - start;
    const cpuMs = cpuMsSince(cpu);
    const otherCpuMs = otherCpuMsSince(machine, cpuMs);
    const members = await engine.store.runMembers(run.id);
    const passed = members.filter((m) => m.status === 'PASSED').length;
    return { n, runStatus, submitMs, wallMs, events: events.filter((e) => e.runId === run.id), runId: run.id, passed, cpuMs, otherCpuMs };
  } finally {
    unsubscribe();
  }
}

/** created (seq 1) → first RUNNING, and RUNNING → terminal, per execution, from the live transition events. */
function latencies(events: TransitionEvent[]): { queue: number[]; service: number[]; missing: number } {
  const created = new Map<string, number>();
  const running = new Map<string, number>();
  const ended = new Map<string, number>();
  for (const e of events) {
    if (e.seq === 1) created.set(e.executionId, e.at);
    else if (e.to === 'RUNNING' && !running.has(e.executionId)) running.set(e.executionId, e.at);
    else if (isTerminal(e.to)) ended.set(e.executionId, e.at);
  }
  const queue: number[] = [];
  const service: number[] = [];
  let missing = 0;
  for (const [id, at] of created) {
    const started = running.get(id);
    if (started === undefined) {
      missing++;
      continue;
    }
    queue.push(started - at);
    const finished = ended.get(id);
    if (finished !== undefined) service.push(finished - started);
  }
  return { queue, service, missing };
}

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
    await round(engine, WARMUP_N);
    log(`${SCENARIO}: measuring ${n} (concurrency ${CONCURRENCY}, synchronous=${config.TROUPE_STORE_SYNC})`);
    const r = await round(engine, n);
    const { queue, service, missing } = latencies(r.events);
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
      otherCpuMs: r.otherCpuMs,
      okCount: r.passed,
      allOk: r.passed === n && r.runStatus === 'PASSED',
      details: {
        runStatus: r.runStatus,
        submitMs: Math.round(r.submitMs),
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
