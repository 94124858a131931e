import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite.store.js';
import { ADMIN, item, startEngine, tempDir, waitFor } from '../helpers/engine.js';
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
    // The runner waits in step 1 on a request this server holds; the cancel's commit is held 300 ms, and the
    // runner's report of its aborted steps comes back within that time.
    let arrived = false;
    const target = createServer(() => (arrived = true));
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(target.address() as AddressInfo).port}/`;
    const dir = tempDir();
    const store = new SqliteStore({ file: join(dir, 'troupe.db'), commitDelayMs: 300 });
    try {
      await using t = await startEngine({}, { store, pool: { threads: 1, graceMs: 60_000 } }, dir);
      const { coordinator } = t.engine;
      const run = await coordinator.submitRun(
        { items: [item('cancelled mid-step', [{ action: 'noop' }, { action: 'http', request: { method: 'GET', url } }, { action: 'noop' }])] },
        ADMIN,
      );
      const id = run.executionIds[0]!;
      await waitFor(() => arrived, 'the runner to wait in step 1');
      await coordinator.command(id, 'CANCEL', ADMIN);
      const steps = await waitFor(async () => {
        const stored = await store.listSteps(id);
        return stored.length === 3 ? stored : null;
      }, 'the steps the runner reported after the cancel');
      expect(steps.map((s) => [s.index, s.status])).toEqual([
        [0, 'PASSED'],
        [1, 'CANCELLED'],
        [2, 'SKIPPED'],
      ]);
      expect((await store.getExecution(id))?.status).toBe('CANCELLED');
    } finally {
      target.closeAllConnections();
      target.close();
    }
  });
});
