import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite.store.js';
import { ADMIN, item, startEngine, tempDir } from '../helpers/engine.js';
import { expectStepsKeptAfterCancel } from '../helpers/cancel-mid-step.js';
import { countTurns } from '../helpers/turns.js';

/**
 * A slow disk: every commit held 150 ms by the writer thread (as a slow fsync would hold it). The engine goes on
 * accepting and scheduling while a commit is in flight, and nothing acts before it is stored.
 */
describe('a slow disk', () => {
  it('a run finishes with every transition stored once, and the event loop keeps turning while commits are held', async () => {
    const dir = tempDir();
    const store = new SqliteStore({ file: join(dir, 'troupe.db'), commitDelayMs: 150 });
    await using t = await startEngine({ EXECUTION_MAX_CONCURRENT_JOBS: '50' }, { store }, dir);
    const { coordinator } = t.engine;
    // Observed from outside while commits are held: how often the event loop turned.
    const turns = countTurns();
    const run = await coordinator.submitRun({ items: Array.from({ length: 40 }, (_, i) => item(`slow disk ${i}`)) }, ADMIN);
    const afterSubmit = turns.count;
    // A second run submitted while the first one's transitions are being committed is accepted as well.
    const second = await coordinator.submitRun({ items: [item('meanwhile')] }, ADMIN);
    expect(await coordinator.waitForRun(run.id)).toBe('PASSED');
    expect(await coordinator.waitForRun(second.id)).toBe('PASSED');
    turns.stop();
    // At least one held commit (the run's own) passed while the loop kept turning.
    expect(afterSubmit).toBeGreaterThan(10);
    for (const id of run.executionIds) {
      const events = await t.engine.store.listEvents(id);
      expect(events.map((e) => `${e.seq}:${e.to}`)).toEqual(['1:PENDING', '2:RUNNING', '3:PASSED']);
    }
    // What was published was stored first: every published transition is in the store.
    for (const e of t.events.filter((ev) => ev.runId === run.id)) {
      expect((await t.engine.store.listEvents(e.executionId)).some((s) => s.seq === e.seq && s.to === e.to)).toBe(true);
    }
  });

  it('keeps the steps a cancelled runner reports while the cancel itself is still being committed', async () => {
    // The cancel's commit is held 300 ms; the runner's report of its aborted steps comes back within that time.
    const dir = tempDir();
    const store = new SqliteStore({ file: join(dir, 'troupe.db'), commitDelayMs: 300 });
    await using t = await startEngine({}, { store, pool: { threads: 1, graceMs: 60_000 } }, dir);
    await expectStepsKeptAfterCancel(t.engine);
  });
});
