/**
 * Steady load for distributed-noop: single executions (`submitExecution`, what `POST /v1/executions` does)
 * submitted at a fixed rate, open loop — each on its schedule, whether or not earlier ones have finished —
 * then the latency each saw, from its transition events and from the workers' results.
 */
import type { TransitionEvent } from '../src/bus/bus.port.js';
import { isTerminal } from '../src/core/statuses.js';
import { cpuMsSince, summarize, type LatencySummary } from './common.js';
import { watchResults, type Cluster } from './distributed-cluster.js';

export interface SteadyResult {
  rate: number;
  seconds: number;
  submitted: number;
  /** Submits that failed (the queue full, or anything else). */
  refused: number;
  passed: number;
  /** Submits started more than 5 ms behind their schedule (the pacer itself falling behind). */
  lateSubmits: number;
  /** Achieved submit rate over the submitting period. */
  achievedRate: number;
  queue: LatencySummary;
  pickup: LatencySummary;
  endToEnd: LatencySummary;
  coordinatorCpuMs: number;
}

const item = { name: 'steady', type: 'GENERIC', steps: [{ action: 'noop' }] };
const principal = { id: 'bench', roles: ['admin'] as ['admin'] };

export async function steadyLoad(cluster: Cluster, rate: number, seconds: number): Promise<SteadyResult> {
  const { engine } = cluster;
  const created = new Map<string, number>();
  const running = new Map<string, number>();
  const ended = new Map<string, { at: number; to: string }>();
  const unsubscribe = engine.bus.subscribeTransitions((e: TransitionEvent) => {
    if (e.seq === 1) created.set(e.executionId, e.at);
    else if (e.to === 'RUNNING' && !running.has(e.executionId)) running.set(e.executionId, e.at);
    else if (isTerminal(e.to)) ended.set(e.executionId, { at: e.at, to: e.to });
  });
  const watch = watchResults(engine);
  const ids: string[] = [];
  let refused = 0;
  let lateSubmits = 0;
  const total = rate * seconds;
  const cpu = process.cpuUsage();
  const submits: Promise<void>[] = [];
  try {
    const start = performance.now();
    let i = 0;
    while (i < total) {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - start) * rate) / 1000) + 1);
      for (; i < due; i++) {
        if (now - (start + (i * 1000) / rate) > 5) lateSubmits++;
        submits.push(
          engine.coordinator.submitExecution(item, principal).then(
            (record) => void ids.push(record.id),
            () => void refused++,
          ),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const submitSeconds = (performance.now() - start) / 1000;
    await Promise.all(submits);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && ids.some((id) => !ended.has(id) || !watch.results.has(id))) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const queue: number[] = [];
    const pickup: number[] = [];
    const endToEnd: number[] = [];
    for (const id of ids) {
      const at = created.get(id);
      if (at === undefined) continue;
      const started = running.get(id);
      if (started !== undefined) queue.push(started - at);
      const result = watch.results.get(id);
      if (result !== undefined) pickup.push(result.startedAt - at);
      const end = ended.get(id);
      if (end !== undefined) endToEnd.push(end.at - at);
    }
    return {
      rate,
      seconds,
      submitted: ids.length,
      refused,
      passed: ids.filter((id) => ended.get(id)?.to === 'PASSED').length,
      lateSubmits,
      achievedRate: Number((total / submitSeconds).toFixed(1)),
      queue: summarize('created (seq 1) → RUNNING, transition `at`, ms', queue),
      pickup: summarize('created → job picked up by a worker (JobResult.startedAt), ms', pickup),
      endToEnd: summarize('created → terminal (PASSED), transition `at`, ms', endToEnd),
      coordinatorCpuMs: cpuMsSince(cpu),
    };
  } finally {
    unsubscribe();
    watch.stop();
  }
}
