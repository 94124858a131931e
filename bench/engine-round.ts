/**
 * One measured round of the engine scenarios: ONE run of N GENERIC items whose single step is `noop`, timed
 * from the `submitRun` call until `waitForRun` resolves, with every transition of the run collected from the
 * bus. embedded-noop and distributed-noop both measure with it, so the two are measured alike.
 */
import type { TransitionEvent } from '../src/bus/bus.port.js';
import { isTerminal } from '../src/core/statuses.js';
import type { Engine } from '../src/engine/create-engine.js';
import { cpuMsSince, machineBusyMs, threadCpuMs } from './common.js';

export interface Round {
  n: number;
  runStatus: string;
  submitMs: number;
  wallMs: number;
  events: TransitionEvent[];
  runId: string;
  passed: number;
  /** CPU of this process over the round. */
  cpuMs: number;
  /** CPU of this process's main thread over the round (null off Linux). */
  mainThreadCpuMs: number | null;
  /** machineBusyMs() when the round started, for otherCpuMsSince once every process's CPU is known. */
  machineAtStart: number | null;
}

/** Waits (at most 5 s) until every execution of the run has its terminal transition among `events`. */
async function eventsSettled(events: TransitionEvent[], runId: string, n: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    if (events.filter((e) => e.runId === runId && isTerminal(e.to)).length >= n) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function noopRound(engine: Engine, n: number): Promise<Round> {
  const events: TransitionEvent[] = [];
  // Subscribed before submitting: creation events are published during submitRun.
  const unsubscribe = engine.bus.subscribeTransitions((event) => events.push(event));
  const items = Array.from({ length: n }, (_, i) => ({ name: `noop-${i}`, type: 'GENERIC', steps: [{ action: 'noop' }] }));
  const body = { name: `bench ${n}`, items };
  try {
    const machineAtStart = machineBusyMs();
    const cpu = process.cpuUsage();
    const mainAtStart = threadCpuMs();
    const start = performance.now();
    const run = await engine.coordinator.submitRun(body, { id: 'bench', roles: ['admin'] });
    const submitMs = performance.now() - start;
    const runStatus = await engine.coordinator.waitForRun(run.id);
    const wallMs = performance.now() - start;
    const cpuMs = cpuMsSince(cpu);
    const mainAtEnd = threadCpuMs();
    const mainThreadCpuMs = mainAtStart === null || mainAtEnd === null ? null : mainAtEnd - mainAtStart;
    const members = await engine.store.runMembers(run.id);
    // Untimed: over NATS the last transitions may reach this subscriber after the run is stored as finished.
    await eventsSettled(events, run.id, n);
    const passed = members.filter((m) => m.status === 'PASSED').length;
    return { n, runStatus, submitMs, wallMs, events: events.filter((e) => e.runId === run.id), runId: run.id, passed, cpuMs, mainThreadCpuMs, machineAtStart };
  } finally {
    unsubscribe();
  }
}

/** created (seq 1) → first RUNNING, and RUNNING → terminal, per execution, from the transition events. */
export function transitionLatencies(events: TransitionEvent[]): { created: Map<string, number>; queue: number[]; service: number[]; missing: number } {
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
  return { created, queue, service, missing };
}

/** Once the newest ended run's history is written (it is written after the run ends). */
export async function historyWritten(e: Engine): Promise<void> {
  while ((await e.store.runsWithoutHistory(1)).length > 0) await new Promise((resolve) => setTimeout(resolve, 5));
}
