import { expect } from 'vitest';
import type { Cluster } from '../helpers/cluster.js';

export const sleepItem = (name: string, ms: number, extra: Record<string, unknown> = {}) => ({
  name,
  type: 'GENERIC',
  steps: [{ action: 'sleep', ms }],
  ...extra,
});

const TERMINAL = new Set(['PASSED', 'FAILED', 'ERROR', 'TIMEOUT', 'SKIPPED', 'CANCELLED', 'ABORTED']);

/** Jobs an agent reports running in its latest heartbeat (0 when it is not listed). */
export async function runningOn(cluster: Cluster, agentId: string): Promise<number> {
  const agents = (await cluster.request('GET', '/v1/agents')).body.items as { agentId: string; running: number }[];
  return agents.find((a) => a.agentId === agentId)?.running ?? 0;
}

/** The execution's events: sequence 1..n without gaps, exactly one terminal event, and it is the last. */
export async function expectOnceTerminal(cluster: Cluster, executionId: string) {
  const events = await cluster.events(executionId);
  expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
  expect(events.filter((e) => TERMINAL.has(e.to))).toHaveLength(1);
  expect(TERMINAL.has(events.at(-1)!.to)).toBe(true);
  return events;
}
