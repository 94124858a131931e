import { describe, expect, it } from 'vitest';
import type { TestEngine } from '../helpers/engine.js';
import { ADMIN, item, startEngine, waitFor } from '../helpers/engine.js';

/** Duration-aware ordering (issue: CI integration): within a run the longest recorded tests start first. */

const sleeps = (name: string, ms: number, extra: Record<string, unknown> = {}) => item(name, [{ action: 'sleep', ms }], extra);

/** Runs `items` as run `name` one execution at a time; the names in the order they started. */
/** An engine running one execution at a time, its worker threads started (the first test would pay for that). */
async function engine(env: Record<string, string> = {}): Promise<TestEngine> {
  const t = await startEngine({ EXECUTION_MAX_CONCURRENT_JOBS: '1', ...env });
  await startOrder(t, [sleeps('warm-up', 0)], 'warm-up');
  return t;
}

async function startOrder(t: TestEngine, items: unknown[], name = 'suite', labels: Record<string, string> = { repository: 'acme/shop' }): Promise<string[]> {
  const run = await t.engine.coordinator.submitRun({ name, labels, items }, ADMIN);
  expect(await t.engine.coordinator.waitForRun(run.id)).toBe('PASSED');
  // The run's history is written after it ends.
  await waitFor(async () => (await t.engine.store.runsWithoutHistory(1)).length === 0, `run ${run.id}'s history`);
  const names = new Map(run.executionIds.map((id, i) => [id, (items[i] as { name: string }).name]));
  return t.events.filter((e) => e.to === 'RUNNING' && names.has(e.executionId)).map((e) => names.get(e.executionId) as string);
}

const SUITE = [sleeps('short one', 0), sleeps('long', 1000), sleeps('short two', 0), sleeps('middle', 500)];

describe('duration-aware ordering', () => {
  it('starts the longest recorded tests first and never-seen ones before them; the first run keeps item order', async () => {
    await using t = await engine();
    expect(await startOrder(t, SUITE)).toEqual(['short one', 'long', 'short two', 'middle']);
    const second = await startOrder(t, [...SUITE, sleeps('new', 0)]);
    expect(second.slice(0, 3)).toEqual(['new', 'long', 'middle']);
    expect(second.slice(3).sort()).toEqual(['short one', 'short two']);
    // Another series (another repository) has no history: item order.
    expect(await startOrder(t, SUITE, 'suite', { repository: 'acme/other' })).toEqual(['short one', 'long', 'short two', 'middle']);
  });

  it('leaves priorities first: a HIGH short test starts before a NORMAL long one', async () => {
    await using t = await engine();
    const suite = [sleeps('long', 300), sleeps('urgent', 0, { priority: 'HIGH' }), sleeps('short', 0)];
    await startOrder(t, suite);
    expect(await startOrder(t, suite)).toEqual(['urgent', 'long', 'short']);
  });

  it('keeps item order when QUEUE_ORDER_BY_DURATION is false', async () => {
    await using t = await engine({ QUEUE_ORDER_BY_DURATION: 'false' });
    await startOrder(t, SUITE);
    expect(await startOrder(t, SUITE)).toEqual(['short one', 'long', 'short two', 'middle']);
  });
});
