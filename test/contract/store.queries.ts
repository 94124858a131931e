import { beforeEach, describe, expect, it } from 'vitest';
import { newId } from '../../src/core/ids.js';
import { TERMINAL_STATUSES, type Status } from '../../src/core/statuses.js';
import type { AuditEntry, ExecutionRecord, RunRecord, Store } from '../../src/store/store.port.js';
import { afterWrite, makeExecution, makeRun, makeRunWithExecutions, step, tick, writeFor } from './store.fixtures.js';
import { applyAll, drive, type StoreUnderTest } from './store.support.js';

const terminal = new Set<Status>(TERMINAL_STATUSES);

/** Steps, queries, flush and durability; registered by storeContract inside its describe. */
export function storeQueryTests(current: () => { store: Store; sut: StoreUnderTest }): void {
  let store: Store;
  let sut: StoreUnderTest;
  beforeEach(() => {
    ({ store, sut } = current());
  });

  describe('steps', () => {
    it('lists steps written with transitions by attempt then index, with status, output and error', async () => {
      const e = makeExecution();
      await store.createExecution(e);
      const boom = { code: 'RUNNER_FAILED', message: 'expected 200, got 503', stack: 'Error: at x', retryable: true };
      const first = [step(0, 'PASSED', { output: 'ok\nline 2' }), step(1, 'ERROR', { error: boom })];
      const second = [step(0, 'PASSED'), step(1, 'PASSED', { output: '' }), step(2, 'SKIPPED')];
      let current = await drive(store, e, [['START', 'RUNNING']]);
      current = await applyAll(store, current, [
        writeFor(current.machine, 'ERROR', 'RETRYING', { attempt: 1, items: first }),
      ]);
      current = await drive(store, current, [['START', 'RUNNING']]);
      current = await applyAll(store, current, [
        writeFor(current.machine, 'PASS', 'PASSED', { attempt: 2, items: [...second].reverse() }),
      ]);

      const steps = await store.listSteps(e.id);
      expect(steps).toEqual([
        ...first.map((s) => ({ ...s, attempt: 1 })),
        ...second.map((s) => ({ ...s, attempt: 2 })),
      ]);
      expect(steps[0]).not.toHaveProperty('error');
      expect(steps[1]).not.toHaveProperty('output');
      expect(steps[1]!.error).toEqual(boom);
      expect(steps[3]!.output).toBe('');
      expect(current.status).toBe('PASSED');
    });

    it('keeps one execution’s steps apart from another’s', async () => {
      const [x, y] = [makeExecution(), makeExecution()];
      await store.createExecution(x);
      await store.createExecution(y);
      const xs = await drive(store, x, [['START', 'RUNNING']]);
      await applyAll(store, xs, [writeFor(xs.machine, 'FAIL', 'FAILED', { attempt: 1, items: [step(0, 'FAILED')] })]);
      expect(await store.listSteps(y.id)).toEqual([]);
      expect(await store.listSteps(x.id)).toHaveLength(1);
    });
  });

  describe('queries', () => {
    it('eventPage pages one execution’s events by seq, after a seq, at most limit', async () => {
      const [x, y] = [makeExecution(), makeExecution()];
      await store.createExecution(x);
      await store.createExecution(y);
      await drive(store, x, [['START', 'RUNNING'], ['PAUSE', 'PAUSED'], ['RESUME', 'RUNNING'], ['PASS', 'PASSED']]);
      await drive(store, y, [['START', 'RUNNING']]);
      const all = await store.listEvents(x.id);
      expect(all.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(await store.eventPage(x.id, 0, 2)).toEqual(all.slice(0, 2));
      expect(await store.eventPage(x.id, 2, 2)).toEqual(all.slice(2, 4));
      expect(await store.eventPage(x.id, 4, 2)).toEqual(all.slice(4));
      expect(await store.eventPage(x.id, 5, 2)).toEqual([]);
      expect(await store.eventPage(x.id, 0, 1000)).toEqual(all);
      expect(await store.eventPage(y.id, 0, 1000)).toEqual(await store.listEvents(y.id));
      expect(await store.eventPage(newId('exe'), 0, 10)).toEqual([]);
    });

    it('listActive returns exactly the non-terminal executions, oldest first', async () => {
      const { run, executions } = makeRunWithExecutions(6);
      const scheduled = makeExecution({ runId: run.id, scheduled: true });
      await store.createRun(run, [...executions, scheduled]);
      const [pending, running, paused, retrying, passed, cancelled] = executions as [
        ExecutionRecord, ExecutionRecord, ExecutionRecord, ExecutionRecord, ExecutionRecord, ExecutionRecord,
      ];
      await drive(store, running, [['START', 'RUNNING']]);
      await drive(store, paused, [['START', 'RUNNING'], ['PAUSE', 'PAUSED']]);
      await drive(store, retrying, [['START', 'RUNNING'], ['TIMEOUT', 'RETRYING']]);
      await drive(store, passed, [['START', 'RUNNING'], ['PASS', 'PASSED']]);
      await drive(store, cancelled, [['CANCEL', 'CANCELLED']]);

      const active = await store.listActive();
      expect(active.map((e) => [e.id, e.status])).toEqual([
        [pending.id, 'PENDING'],
        [running.id, 'RUNNING'],
        [paused.id, 'PAUSED'],
        [retrying.id, 'RETRYING'],
        [scheduled.id, 'SCHEDULED'],
      ]);
      expect(active.every((e) => !terminal.has(e.status))).toBe(true);
      expect(active[2]).toEqual(await store.getExecution(paused.id));
    });

    it('listExecutions pages newest first, each item exactly once, and filters by run, status and owner', async () => {
      const a = makeRunWithExecutions(9, { owner: 'alice' });
      const b = makeRunWithExecutions(7, { owner: 'bob' });
      await store.createRun(a.run, a.executions);
      await store.createRun(b.run, b.executions);
      const loose = [makeExecution({ owner: 'alice' }), makeExecution({ owner: 'carol' })];
      for (const e of loose) await store.createExecution(e);
      const all = [...a.executions, ...b.executions, ...loose];
      const cancelled = new Set<string>();
      for (const e of all.filter((_, i) => i % 3 === 0)) {
        await drive(store, e, [['CANCEL', 'CANCELLED']]);
        cancelled.add(e.id);
      }

      const collect = async (filter: Omit<Parameters<Store['listExecutions']>[0], 'cursor'>) => {
        const ids: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const page = await store.listExecutions({ ...filter, cursor });
          expect(page.items.length).toBeLessThanOrEqual(filter.limit);
          ids.push(...page.items.map((e) => e.id));
          cursor = page.next;
          pages++;
          expect(pages).toBeLessThan(100);
        } while (cursor !== null);
        return { ids, pages };
      };
      const newestFirst = (list: ExecutionRecord[]) => list.map((e) => e.id).reverse();

      for (const limit of [1, 4, 18, 19, 1000]) {
        const { ids, pages } = await collect({ limit });
        expect(ids).toEqual(newestFirst(all));
        expect(pages).toBe(Math.max(1, Math.ceil(all.length / limit)));
      }
      expect((await collect({ limit: 2, runId: b.run.id })).ids).toEqual(newestFirst(b.executions));
      expect((await collect({ limit: 3, owner: 'alice' })).ids).toEqual(newestFirst([...a.executions, loose[0]!]));
      expect((await collect({ limit: 2, status: 'CANCELLED' })).ids).toEqual(
        newestFirst(all.filter((e) => cancelled.has(e.id))),
      );
      expect((await collect({ limit: 2, status: 'PENDING', runId: a.run.id, owner: 'alice' })).ids).toEqual(
        newestFirst(a.executions.filter((e) => !cancelled.has(e.id))),
      );
      expect((await collect({ limit: 5, owner: 'nobody' })).ids).toEqual([]);
      const first = await store.listExecutions({ limit: 1, status: 'CANCELLED' });
      expect(first.items[0]).toEqual(await store.getExecution(first.items[0]!.id));
    });

    it('finds a run by idempotency key only for its owner', async () => {
      const mine = makeRunWithExecutions(1, { owner: 'alice', idempotencyKey: 'deploy-7' });
      const theirs = makeRunWithExecutions(1, { owner: 'bob', idempotencyKey: 'deploy-8' });
      const keyless = makeRunWithExecutions(1, { owner: 'alice' });
      for (const r of [mine, theirs, keyless]) await store.createRun(r.run, r.executions);

      expect(await store.findRunByIdempotencyKey('alice', 'deploy-7')).toEqual(mine.run);
      expect(await store.findRunByIdempotencyKey('bob', 'deploy-7')).toBeNull();
      expect(await store.findRunByIdempotencyKey('alice', 'deploy-8')).toBeNull();
      expect(await store.findRunByIdempotencyKey('bob', 'deploy-8')).toEqual(theirs.run);
      expect(await store.findRunByIdempotencyKey('alice', 'deploy-9')).toBeNull();
    });

    it('runMembers lists a run’s executions in creation order with current statuses; runCounts counts them', async () => {
      const { run, executions } = makeRunWithExecutions(5);
      const other = makeRunWithExecutions(2);
      await store.createRun(run, executions);
      await store.createRun(other.run, other.executions);
      const [e0, e1, e2, e3, e4] = executions as [
        ExecutionRecord, ExecutionRecord, ExecutionRecord, ExecutionRecord, ExecutionRecord,
      ];
      // Statuses whose alphabetical order differs from creation order.
      await drive(store, e0, [['START', 'RUNNING'], ['PASS', 'PASSED']]);
      await drive(store, e1, [['START', 'RUNNING'], ['FAIL', 'FAILED']]);
      await drive(store, e3, [['START', 'RUNNING'], ['PASS', 'PASSED']]);
      await drive(store, e4, [['CANCEL', 'CANCELLED']]);

      expect(await store.runMembers(run.id)).toEqual([
        { id: e0.id, status: 'PASSED' },
        { id: e1.id, status: 'FAILED' },
        { id: e2.id, status: 'PENDING' },
        { id: e3.id, status: 'PASSED' },
        { id: e4.id, status: 'CANCELLED' },
      ]);
      expect(await store.runCounts(run.id)).toEqual({ PASSED: 2, FAILED: 1, PENDING: 1, CANCELLED: 1 });
      expect(await store.runCounts(other.run.id)).toEqual({ PENDING: 2 });
      expect((await store.runMembers(other.run.id)).map((m) => m.id)).toEqual(other.executions.map((e) => e.id));
    });

    it('setRunStatus updates a run; listActiveRuns holds exactly the PENDING and RUNNING ones', async () => {
      const runs = [makeRun(), makeRun(), makeRun(), makeRun()];
      for (const r of runs) await store.createRun(r, []);
      const [pending, running, passed, cancelled] = runs as [RunRecord, RunRecord, RunRecord, RunRecord];
      const at = tick();
      await store.setRunStatus(running.id, 'RUNNING', at);
      await store.setRunStatus(passed.id, 'RUNNING', tick());
      await store.setRunStatus(passed.id, 'PASSED', tick());
      await store.setRunStatus(cancelled.id, 'CANCELLED', tick());

      expect(await store.getRun(running.id)).toEqual({ ...running, status: 'RUNNING', updatedAt: at });
      expect((await store.getRun(passed.id))?.status).toBe('PASSED');
      const active = await store.listActiveRuns();
      expect(active.map((r) => [r.id, r.status]).sort()).toEqual(
        [
          [pending.id, 'PENDING'],
          [running.id, 'RUNNING'],
        ].sort(),
      );
    });

    it('appendAudit keeps entries; listAudit returns the newest first, up to the limit', async () => {
      const entries: AuditEntry[] = Array.from({ length: 5 }, (_, i) => ({
        at: tick(),
        principal: i % 2 ? 'bob' : 'alice',
        action: `execution.cancel.${i}`,
        target: newId('exe'),
        source: 'http',
        ...(i === 2 ? {} : { details: { reason: `because ${i}`, nested: { n: i, list: [1, 'two'] } } }),
      }));
      for (const entry of entries) await store.appendAudit(entry);

      expect(await store.listAudit(3)).toEqual(entries.slice(2).reverse());
      const all = await store.listAudit(100);
      expect(all).toEqual([...entries].reverse());
      expect(all[2]).not.toHaveProperty('details');
    });
  });

  describe('flush and durability', () => {
    it('flush resolves once pending writes are visible', async () => {
      await store.flush();
      const { run, executions } = makeRunWithExecutions(50);
      await store.createRun(run, executions);
      const writes = executions.map((e) => writeFor(e.machine, 'START', 'RUNNING'));
      const pending = writes.map((w) => store.applyTransition(w));

      await store.flush();

      expect(await store.runCounts(run.id)).toEqual({ RUNNING: 50 });
      expect(await store.eventsSince(0, 1_000)).toHaveLength(100);
      expect(await Promise.all(pending)).toEqual(writes.map(() => 'applied'));
    });

    it('keeps everything applied across close and reopen, including writes still pending at close', async (ctx) => {
      if (!sut.reopen) return ctx.skip();
      const { run, executions } = makeRunWithExecutions(3, { idempotencyKey: 'durable' });
      await store.createRun(run, executions);
      const loose = makeExecution({ scheduled: true });
      await store.createExecution(loose);
      const [e0, e1, e2] = executions as [ExecutionRecord, ExecutionRecord, ExecutionRecord];
      const done = await drive(store, e0, [['START', 'RUNNING']]);
      const finish = writeFor(done.machine, 'PASS', 'PASSED', {
        attempt: 1,
        items: [step(0, 'PASSED', { output: 'fine' }), step(1, 'FAILED', { error: { code: 'X', message: 'y', retryable: false } })],
      });
      await applyAll(store, done, [finish]);
      await store.setRunStatus(run.id, 'RUNNING', tick());
      const audit: AuditEntry = { at: tick(), principal: 'admin', action: 'run.create', target: run.id, source: 'cli' };
      await store.appendAudit(audit);
      // Not awaited: close() must wait for them.
      const late = [writeFor(e1.machine, 'START', 'RUNNING'), writeFor(e2.machine, 'CANCEL', 'CANCELLED')];
      const latePromises = late.map((w) => store.applyTransition(w));
      const expected = {
        executions: [afterWrite(done, finish), afterWrite(e1, late[0]!), afterWrite(e2, late[1]!), loose],
        steps: await store.listSteps(e0.id),
        events: await Promise.all(executions.map((e) => store.listEvents(e.id))),
      };
      await store.close();
      expect(await Promise.all(latePromises)).toEqual(['applied', 'applied']);

      const reopened = await sut.reopen();
      for (const e of expected.executions) expect(await reopened.getExecution(e.id)).toEqual(e);
      expect(await reopened.listSteps(e0.id)).toEqual(expected.steps);
      expect(expected.steps).toHaveLength(2);
      expect(await reopened.listEvents(e0.id)).toEqual(expected.events[0]);
      expect((await reopened.listEvents(e1.id)).map((r) => r.seq)).toEqual([1, 2]);
      expect((await reopened.listEvents(e2.id)).map((r) => r.to)).toEqual(['PENDING', 'CANCELLED']);
      expect(await reopened.getRun(run.id)).toMatchObject({ status: 'RUNNING' });
      expect(await reopened.findRunByIdempotencyKey(run.owner, 'durable')).toMatchObject({ id: run.id });
      expect(await reopened.listAudit(10)).toEqual([audit]);
      expect((await reopened.listActive()).map((e) => e.id)).toEqual([e1.id, loose.id]);
      const log = await reopened.eventsSince(0, 100);
      expect(log).toHaveLength(8);

      // The reopened store goes on where the old one stopped: versions and cursors continue.
      const resumed = writeFor(late[0]!.machine, 'PASS', 'PASSED');
      expect(await reopened.applyTransition(writeFor(e1.machine, 'CANCEL', 'CANCELLED'))).toBe('conflict');
      expect(await reopened.applyTransition(resumed)).toBe('applied');
      const after = await reopened.eventsSince(log.at(-1)!.cursor, 10);
      expect(after.map((x) => x.record)).toEqual([resumed.machine.last]);
      // Step events share the cursor sequence, also across the reopen.
      const merged = await reopened.logSince(0, 100);
      expect(merged.filter((x) => x.kind === 'step').map((x) => x.executionId)).toEqual([e0.id, e0.id]);
      expect(merged.at(-1)).toMatchObject({ kind: 'transition', cursor: after[0]!.cursor });
      expect(after[0]!.cursor).toBeGreaterThan(Math.max(...merged.slice(0, -1).map((x) => x.cursor)));
    });
  });
}
