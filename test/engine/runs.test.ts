import { describe, expect, it } from 'vitest';
import { validateItem } from '../../src/core/items.js';
import { definitionsFor } from '../../src/runners/registry.js';
import { TroupeError } from '../../src/core/errors.js';
import { ADMIN, FIXTURE_WORKER, item, startEngine, waitFor } from '../helpers/engine.js';

const BOB = { id: 'bob', roles: ['runner'] as const };

describe('runs through the embedded engine', () => {
  it('10,000 no-op executions in one run all end PASSED, each with contiguous events and exactly one terminal event', async () => {
    await using t = await startEngine({ QUEUE_MAX_QUEUE_SIZE: '20000' });
    const { coordinator, store } = t.engine;
    const items = Array.from({ length: 10_000 }, (_, i) => item(`noop ${i}`));
    const run = await coordinator.submitRun({ name: 'bulk', context: 'BULK', items }, ADMIN);
    expect(run.executionIds).toHaveLength(10_000);
    expect(await coordinator.waitForRun(run.id)).toBe('PASSED');
    expect(await store.runCounts(run.id)).toEqual({ PASSED: 10_000 });
    await store.flush();
    const bySeq = new Map<string, number[]>();
    const terminal = new Map<string, number>();
    for (let cursor = 0; ; ) {
      const page = await store.eventsSince(cursor, 5000);
      if (page.length === 0) break;
      for (const e of page) {
        const seqs = bySeq.get(e.executionId) ?? [];
        seqs.push(e.record.seq);
        bySeq.set(e.executionId, seqs);
        if (e.record.to === 'PASSED') terminal.set(e.executionId, (terminal.get(e.executionId) ?? 0) + 1);
        cursor = e.cursor;
      }
    }
    expect(bySeq.size).toBe(10_000);
    for (const id of run.executionIds) {
      expect(bySeq.get(id)).toEqual([1, 2, 3]);
      expect(terminal.get(id)).toBe(1);
    }
    // What was published live matches what was stored: one terminal event per execution.
    expect(t.events.filter((e) => e.to === 'PASSED')).toHaveLength(10_000);
  });

  it('failFast skips what has not started and cancels what runs after the first failure', async () => {
    await using t = await startEngine({ EXECUTION_MAX_CONCURRENT_JOBS: '2' }, { pool: { filename: FIXTURE_WORKER, threads: 1 } });
    const { coordinator, store } = t.engine;
    const items = [
      item('slow', [{ action: 'sleep', ms: 30_000 }]),
      item('fails', [{ action: 'noop', name: 'fixture:fail' }]),
      ...Array.from({ length: 5 }, (_, i) => item(`later ${i}`)),
    ];
    const run = await coordinator.submitRun({ failFast: true, items }, ADMIN);
    expect(await coordinator.waitForRun(run.id)).toBe('FAILED');
    const counts = await store.runCounts(run.id);
    expect(counts).toEqual({ CANCELLED: 1, FAILED: 1, SKIPPED: 5 });
    const skipped = await store.listEvents(run.executionIds[2]!);
    expect(skipped.at(-1)).toMatchObject({ from: 'PENDING', to: 'SKIPPED', actor: 'run-supervisor' });
    expect(skipped.at(-1)!.reason).toContain('failFast');
  });

  it('maxParallel bounds how many executions of a run run at once', async () => {
    await using t = await startEngine({ EXECUTION_MAX_CONCURRENT_JOBS: '50' });
    const { coordinator } = t.engine;
    const items = Array.from({ length: 12 }, (_, i) => item(`s${i}`, [{ action: 'sleep', ms: 40 }]));
    const run = await coordinator.submitRun({ maxParallel: 3, items }, ADMIN);
    expect(await coordinator.waitForRun(run.id)).toBe('PASSED');
    let running = 0;
    let peak = 0;
    for (const e of t.events.filter((ev) => ev.runId === run.id)) {
      if (e.to === 'RUNNING') running++;
      if (e.from === 'RUNNING') running--;
      peak = Math.max(peak, running);
    }
    expect(peak).toBe(3);
  });

  it('starts higher priorities first', async () => {
    await using t = await startEngine({ EXECUTION_MAX_CONCURRENT_JOBS: '1' });
    const { coordinator } = t.engine;
    // Occupy the only slot until every other run is queued (however long the submits take), then free it.
    const blocker = await coordinator.submitRun({ items: [item('blocker', [{ action: 'sleep', ms: 60_000 }])] }, ADMIN);
    await waitFor(() => t.events.some((e) => e.executionId === blocker.executionIds[0] && e.to === 'RUNNING'), 'blocker running');
    const order = ['DEFERRED', 'LOW', 'NORMAL', 'HIGH', 'CRITICAL'] as const;
    const runs = [];
    for (const priority of order) runs.push(await coordinator.submitRun({ priority, items: [item(priority)] }, ADMIN));
    await coordinator.cancelRun(blocker.id, ADMIN);
    for (const r of runs) await coordinator.waitForRun(r.id);
    const started = t.events.filter((e) => e.to === 'RUNNING' && e.executionId !== blocker.executionIds[0]).map((e) => e.runId);
    expect(started).toEqual([...runs].reverse().map((r) => r.id));
  });

  it("one user's bulk run cannot starve another user's single test", async () => {
    await using t = await startEngine({ EXECUTION_MAX_CONCURRENT_JOBS: '4' });
    const { coordinator } = t.engine;
    const bulk = await coordinator.submitRun({ items: Array.from({ length: 200 }, (_, i) => item(`b${i}`, [{ action: 'sleep', ms: 20 }])) }, ADMIN);
    await waitFor(() => t.events.filter((e) => e.to === 'RUNNING').length >= 4, 'bulk running');
    const single = await coordinator.submitRun({ items: [item('single')] }, BOB);
    await coordinator.waitForRun(single.id);
    // Bob's test started as soon as a slot freed, long before the bulk run finished: counted in the order of the
    // events, not by how far the bulk run got while Bob's run was being finished.
    const singleStarted = t.events.findIndex((e) => e.runId === single.id && e.to === 'RUNNING');
    expect(singleStarted).toBeGreaterThan(-1);
    const bulkDoneBefore = t.events.slice(0, singleStarted).filter((e) => e.runId === bulk.id && e.to === 'PASSED').length;
    expect(bulkDoneBefore).toBeLessThan(50);
    await coordinator.waitForRun(bulk.id);
  });

  it('a submit beyond QUEUE_MAX_QUEUE_SIZE is rejected as QUEUE_FULL and stores nothing', async () => {
    await using t = await startEngine({ QUEUE_MAX_QUEUE_SIZE: '5', EXECUTION_MAX_CONCURRENT_JOBS: '1' });
    const { coordinator, store } = t.engine;
    const err = await coordinator.submitRun({ items: Array.from({ length: 6 }, (_, i) => item(`q${i}`)) }, ADMIN).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TroupeError);
    expect((err as TroupeError).code).toBe('QUEUE_FULL');
    expect((err as TroupeError).status).toBe(429);
    expect((await store.listExecutions({ limit: 10 })).items).toHaveLength(0);
    const ok = await coordinator.submitRun({ items: Array.from({ length: 5 }, (_, i) => item(`q${i}`)) }, ADMIN);
    expect(await coordinator.waitForRun(ok.id)).toBe('PASSED');
  });

  it('the same idempotency key returns the same run; reusing it for another body is a conflict', async () => {
    await using t = await startEngine();
    const { coordinator, store } = t.engine;
    const body = { idempotencyKey: 'ci-1234', items: [item('a'), item('b')] };
    const first = await coordinator.submitRun(body, ADMIN);
    const again = await coordinator.submitRun(body, ADMIN);
    expect(again).toMatchObject({ id: first.id, executionIds: first.executionIds, created: false });
    const other = await coordinator.submitRun({ ...body, items: [item('c')] }, ADMIN).catch((e: unknown) => e);
    expect((other as TroupeError).code).toBe('IDEMPOTENCY_CONFLICT');
    // Another user's key space is separate.
    const bobs = await coordinator.submitRun(body, BOB);
    expect(bobs.id).not.toBe(first.id);
    await coordinator.waitForRun(first.id);
    await coordinator.waitForRun(bobs.id);
    expect((await store.listExecutions({ limit: 100 })).items).toHaveLength(4);
  });

  it('waiting for a run that has already ended answers at once and keeps nothing for later', async () => {
    await using t = await startEngine();
    const { coordinator } = t.engine;
    const run = await coordinator.submitRun({ items: [item('done')] }, ADMIN);
    expect(await coordinator.waitForRun(run.id)).toBe('PASSED');
    for (let i = 0; i < 5; i++) expect(await coordinator.waitForRun(run.id)).toBe('PASSED');
    await expect(coordinator.waitForRun('run_00000000000000000000000000')).rejects.toThrow(/not found/);
    const waiters = (coordinator as unknown as { lifecycles: { runWaiters: Map<string, unknown[]> } }).lifecycles.runWaiters;
    expect(waiters.size).toBe(0);
  });

  it('the same idempotency key submitted twice at once makes one run; the loser gets it too and leaves no actor behind', async () => {
    await using t = await startEngine();
    const { coordinator, store } = t.engine;
    const body = { idempotencyKey: 'ci-race', items: Array.from({ length: 20 }, (_, i) => item(`r${i}`)) };
    // Both pass the key lookup before either is stored: the store's unique key decides.
    const [a, b] = await Promise.all([coordinator.submitRun(body, ADMIN), coordinator.submitRun(body, ADMIN)]);
    expect(a.id).toBe(b.id);
    expect([a.created, b.created].sort()).toEqual([false, true]);
    expect(b.executionIds).toEqual(a.executionIds);
    expect(await coordinator.waitForRun(a.id)).toBe('PASSED');
    expect((await store.listExecutions({ limit: 100 })).items).toHaveLength(20);
    // The losing submit's actors were dropped: nothing is left waiting.
    expect(coordinator.stats()).toMatchObject({ live: 0, queued: 0, running: 0 });
  });

  it.each([
    [{ items: [] }, /items/],
    [{ items: [{ name: 'x', type: 'GENERIC' }] }, /item 0 \(x\): a GENERIC item needs at least one step/],
    [{ items: [{ name: 'x', type: 'GENERIC', steps: [{ action: 'teleport' }] }] }, /item 0 \(x\): step 0/],
    [{ items: [{ name: 'x', type: 'GENERIC', steps: [{ action: 'sleep' }] }] }, /step 0/],
    [{ items: [item('ok'), { name: 'y', type: 'GENERIC', steps: [{ action: 'noop' }], colour: 'red' }] }, /item 1 \(y\)/],
    [{ items: [item('ok')], surprise: true }, /run/],
    [{ items: [item('ok')], priority: 'URGENT' }, /priority/],
    ['not an object', /run/],
  ])('bad input %j is a clear 400 and changes nothing', async (body, message) => {
    await using t = await startEngine();
    const err = await t.engine.coordinator.submitRun(body, ADMIN).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TroupeError);
    expect((err as TroupeError).status).toBe(400);
    expect((err as TroupeError).message).toMatch(message);
    expect((await t.engine.store.listExecutions({ limit: 10 })).items).toHaveLength(0);
    expect(await t.engine.store.listActiveRuns()).toHaveLength(0);
  });

  it('an item type with no runner is rejected at submit, naming the item', () => {
    // Every type has a runner in this build (MANUAL is run by the engine itself); a worker build without
    // one narrows the runnable types the coordinator checks against.
    const manual = { name: 'manual', type: 'MANUAL', steps: [{ instruction: 'click', expected: 'ok' }] };
    let err: unknown;
    try {
      validateItem(manual, 0, definitionsFor(['GENERIC']));
    } catch (e) {
      err = e;
    }
    expect((err as TroupeError).code).toBe('UNKNOWN_RUNNER');
    expect((err as TroupeError).message).toBe('item 0 (manual): no runner is available for type MANUAL');
  });

  it('every item type of SPEC §7 is accepted by the engine', async () => {
    await using t = await startEngine({}, { pool: false });
    const run = await t.engine.coordinator.submitRun(
      {
        items: [
          item('generic'),
          { name: 'manual', type: 'MANUAL', steps: [{ instruction: 'click', expected: 'ok' }] },
          { name: 'bdd', type: 'BDD', feature: 'Feature: f\n  Scenario: s\n    Given the base URL is "http://127.0.0.1:1"\n' },
        ],
      },
      ADMIN,
    );
    expect(run.executionIds).toHaveLength(3);
  });

  it('cancelling a run cancels what remains and the run ends CANCELLED', async () => {
    await using t = await startEngine({ EXECUTION_MAX_CONCURRENT_JOBS: '1' });
    const { coordinator, store } = t.engine;
    const run = await coordinator.submitRun({ items: Array.from({ length: 4 }, (_, i) => item(`c${i}`, [{ action: 'sleep', ms: 30_000 }])) }, ADMIN);
    await waitFor(() => t.events.some((e) => e.to === 'RUNNING'), 'one running');
    await coordinator.cancelRun(run.id, ADMIN);
    expect(await coordinator.waitForRun(run.id)).toBe('CANCELLED');
    expect(await store.runCounts(run.id)).toEqual({ CANCELLED: 4 });
    expect((await store.getRun(run.id))!.status).toBe('CANCELLED');
    expect((await store.listAudit(10)).map((a) => a.action)).toContain('CANCEL_RUN');
  });
});
