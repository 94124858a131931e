import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newId } from '../../src/core/ids.js';
import type { Status } from '../../src/core/statuses.js';
import type { ExecutionRecord, Store, TransitionWrite } from '../../src/store/store.port.js';
import { afterWrite, makeExecution, makeRunWithExecutions, step, writeFor } from './store.fixtures.js';
import { storeCatalogTests } from './store.catalog.js';
import { storeHistoryTests } from './store.history.js';
import { storeModelTests } from './store.model.js';
import { storeQueryTests } from './store.queries.js';
import { storeTriggerTests } from './store.triggers.js';
import { drive, type StoreUnderTest } from './store.support.js';

export type { StoreUnderTest } from './store.support.js';

/** How a call failed or not: a rejected promise is told apart from a synchronous throw. */
function outcomeOf(call: () => Promise<unknown>): Promise<'resolved' | 'rejected'> | 'threw synchronously' {
  try {
    return call().then(
      () => 'resolved' as const,
      () => 'rejected' as const,
    );
  } catch {
    return 'threw synchronously';
  }
}

/**
 * The store port's contract (SPEC §6: nothing accepted is lost; concurrent writers never overwrite each other).
 * Every adapter runs it: `storeContract('sqlite', async () => ({ store, reopen, cleanup }))`.
 */
export function storeContract(name: string, open: () => Promise<StoreUnderTest>): void {
  describe(`Store contract: ${name}`, () => {
    let sut: StoreUnderTest;
    let store: Store;

    beforeEach(async () => {
      sut = await open();
      store = sut.store;
    });
    afterEach(async () => {
      await sut.cleanup();
    });

    describe('creating', () => {
      it('createRun stores the run, its executions and each creation event (seq 1, from null)', async () => {
        const { run, executions } = makeRunWithExecutions(3);
        executions.push(makeExecution({ runId: run.id, scheduled: true }));
        await store.createRun(run, executions);

        expect(await store.getRun(run.id)).toEqual(run);
        for (const e of executions) {
          expect(await store.getExecution(e.id)).toEqual(e);
          const events = await store.listEvents(e.id);
          expect(events).toEqual([e.machine.last]);
          expect(events[0]).toMatchObject({ seq: 1, from: null, event: 'CREATE', to: e.status });
        }
        expect(executions.map((e) => e.status)).toEqual(['PENDING', 'PENDING', 'PENDING', 'SCHEDULED']);
        const logged = await store.eventsSince(0, 100);
        expect(logged.map((e) => [e.executionId, e.runId, e.record])).toEqual(
          executions.map((e) => [e.id, run.id, e.machine.last]),
        );
      });

      it('createExecution stores a standalone execution (no run, a rerun) with its creation event', async () => {
        const original = makeExecution();
        const rerun = makeExecution({ rerunOf: original.id, owner: 'bob' });
        await store.createExecution(original);
        await store.createExecution(rerun);
        expect(await store.getExecution(rerun.id)).toEqual(rerun);
        expect((await store.getExecution(rerun.id))?.runId).toBeNull();
        expect(await store.listEvents(rerun.id)).toEqual([rerun.machine.last]);
        expect((await store.eventsSince(0, 10)).map((e) => [e.executionId, e.runId])).toEqual([
          [original.id, null],
          [rerun.id, null],
        ]);
      });

      it('answers null or empty for ids it does not hold', async () => {
        expect(await store.getExecution(newId('exe'))).toBeNull();
        expect(await store.getRun(newId('run'))).toBeNull();
        expect(await store.listEvents(newId('exe'))).toEqual([]);
        expect(await store.listSteps(newId('exe'))).toEqual([]);
        expect(await store.runMembers(newId('run'))).toEqual([]);
        expect(await store.runCounts(newId('run'))).toEqual({});
        expect(await store.eventsSince(0, 10)).toEqual([]);
        expect(await store.listActive()).toEqual([]);
        expect(await store.listActiveRuns()).toEqual([]);
        expect(await store.listAudit(10)).toEqual([]);
        expect(await store.listExecutions({ limit: 10 })).toEqual({ items: [], next: null });
      });

      it('createRun is atomic: when one execution cannot be stored, nothing of the run is', async () => {
        const taken = makeExecution();
        await store.createExecution(taken);
        const { run, executions } = makeRunWithExecutions(2);
        const clash = { ...makeExecution({ runId: run.id }), id: taken.id };

        await expect((async () => store.createRun(run, [...executions, clash]))()).rejects.toBeDefined();

        expect(await store.getRun(run.id)).toBeNull();
        for (const e of executions) {
          expect(await store.getExecution(e.id)).toBeNull();
          expect(await store.listEvents(e.id)).toEqual([]);
        }
        expect(await store.getExecution(taken.id)).toEqual(taken);
        expect(await store.listEvents(taken.id)).toEqual([taken.machine.last]);
        expect(await store.runMembers(run.id)).toEqual([]);
        expect((await store.eventsSince(0, 100)).map((e) => e.executionId)).toEqual([taken.id]);
      });

      it('an idempotency key is unique per owner: a second run with it is refused whole', async () => {
        const first = makeRunWithExecutions(1, { idempotencyKey: 'ci-42' });
        await store.createRun(first.run, first.executions);
        const again = makeRunWithExecutions(1, { idempotencyKey: 'ci-42' });

        await expect((async () => store.createRun(again.run, again.executions))()).rejects.toBeDefined();

        expect(await store.getRun(again.run.id)).toBeNull();
        expect(await store.getExecution(again.executions[0]!.id)).toBeNull();
        const other = makeRunWithExecutions(1, { idempotencyKey: 'ci-42', owner: 'bob' });
        await store.createRun(other.run, other.executions);
        expect(await store.getRun(other.run.id)).toEqual(other.run);
      });

      it('a failed write surfaces as a rejected promise, never a synchronous throw', async () => {
        const taken = makeExecution();
        await store.createExecution(taken);
        const { run } = makeRunWithExecutions(0);
        expect(await outcomeOf(() => store.createExecution(taken))).toBe('rejected');
        expect(await outcomeOf(() => store.createRun(run, [taken]))).toBe('rejected');
      });
    });

    describe('conditional transitions', () => {
      it('applies a write on the expected version: row, version and event follow the machine', async () => {
        const e = makeExecution({ runId: null });
        await store.createExecution(e);
        const write = writeFor(e.machine, 'START', 'RUNNING');

        expect(await store.applyTransition(write)).toBe('applied');

        const stored = await store.getExecution(e.id);
        expect(stored).toEqual(afterWrite(e, write));
        expect(stored).toMatchObject({ status: 'RUNNING', version: 2, updatedAt: write.machine.last.at });
        expect(await store.listEvents(e.id)).toEqual([e.machine.last, write.machine.last]);
        const logged = await store.eventsSince(0, 10);
        expect(logged[1]).toMatchObject({ executionId: e.id, runId: null, record: write.machine.last });
      });

      it('refuses a stale write with conflict and changes nothing, row nor events', async () => {
        const { run, executions } = makeRunWithExecutions(1);
        await store.createRun(run, executions);
        const e = executions[0]!;
        const winner = writeFor(e.machine, 'START', 'RUNNING');
        expect(await store.applyTransition(winner)).toBe('applied');
        const before = await store.getExecution(e.id);
        const eventsBefore = await store.eventsSince(0, 100);

        // Two stale writers: one from the old version, one claiming a version the row never had.
        const stale = writeFor(e.machine, 'CANCEL', 'CANCELLED', { attempt: 1, items: [step(0, 'CANCELLED')] });
        const ahead = { ...writeFor(winner.machine, 'PASS', 'PASSED'), expectedVersion: 7 };
        expect(await store.applyTransition(stale)).toBe('conflict');
        expect(await store.applyTransition(ahead)).toBe('conflict');

        expect(await store.getExecution(e.id)).toEqual(before);
        expect(await store.eventsSince(0, 100)).toEqual(eventsBefore);
        expect(await store.listSteps(e.id)).toEqual([]);
        expect(await store.runCounts(run.id)).toEqual({ RUNNING: 1 });
      });

      it('answers not_found for an unknown execution and stores nothing', async () => {
        const ghost = makeExecution();
        const outcome = await store.applyTransition(
          writeFor(ghost.machine, 'START', 'RUNNING', { attempt: 1, items: [step(0, 'PASSED')] }),
        );
        expect(outcome).toBe('not_found');
        expect(await store.getExecution(ghost.id)).toBeNull();
        expect(await store.listEvents(ghost.id)).toEqual([]);
        expect(await store.listSteps(ghost.id)).toEqual([]);
        expect(await store.eventsSince(0, 10)).toEqual([]);
      });

      it('gives each write of one tick its own outcome (group commit)', async () => {
        const { run, executions } = makeRunWithExecutions(6);
        await store.createRun(run, executions);
        const ghost = makeExecution();
        const writes: { write: TransitionWrite; expected: string }[] = [];
        for (const [i, e] of executions.entries()) {
          const good = writeFor(e.machine, 'START', 'RUNNING');
          const stale = { ...writeFor(e.machine, 'CANCEL', 'CANCELLED'), expectedVersion: 0 };
          // Interleave good and stale writes so a batch cannot get away with one outcome for all.
          if (i % 2 === 0) writes.push({ write: good, expected: 'applied' }, { write: stale, expected: 'conflict' });
          else writes.push({ write: stale, expected: 'conflict' }, { write: good, expected: 'applied' });
        }
        writes.splice(5, 0, { write: writeFor(ghost.machine, 'START', 'RUNNING'), expected: 'not_found' });

        const outcomes = await Promise.all(writes.map(({ write }) => store.applyTransition(write)));

        expect(outcomes).toEqual(writes.map((w) => w.expected));
        for (const e of executions) {
          expect(await store.getExecution(e.id)).toMatchObject({ status: 'RUNNING', version: 2 });
          expect((await store.listEvents(e.id)).map((r) => r.to)).toEqual(['PENDING', 'RUNNING']);
        }
        expect(await store.runCounts(run.id)).toEqual({ RUNNING: 6 });
      });

      it('refuses a malformed write alone: the rest of its batch still applies', async () => {
        const { run, executions } = makeRunWithExecutions(3);
        await store.createRun(run, executions);
        const [x, bad, z] = executions as [ExecutionRecord, ExecutionRecord, ExecutionRecord];
        const good = [writeFor(x.machine, 'START', 'RUNNING'), writeFor(z.machine, 'START', 'RUNNING')];
        // A caller bug: the new machine does not advance the sequence (seq must be expectedVersion + 1).
        const next = writeFor(bad.machine, 'START', 'RUNNING');
        const malformed: TransitionWrite = {
          ...next,
          machine: { ...next.machine, seq: bad.version, last: { ...next.machine.last, seq: bad.version } },
        };

        const settled = await Promise.allSettled([
          store.applyTransition(good[0]!),
          store.applyTransition(malformed),
          store.applyTransition(good[1]!),
        ]);

        expect(settled[0]).toEqual({ status: 'fulfilled', value: 'applied' });
        expect(settled[2]).toEqual({ status: 'fulfilled', value: 'applied' });
        expect(settled[1]).not.toEqual({ status: 'fulfilled', value: 'applied' });
        expect(await store.getExecution(bad.id)).toEqual(bad);
        expect(await store.listEvents(bad.id)).toEqual([bad.machine.last]);
        expect(await store.getExecution(x.id)).toEqual(afterWrite(x, good[0]!));
        expect(await store.getExecution(z.id)).toEqual(afterWrite(z, good[1]!));
      });

      it('lets exactly one of two writers racing on the same version win', async () => {
        const { run, executions } = makeRunWithExecutions(20);
        await store.createRun(run, executions);
        const races = executions.map((e) => ({
          e,
          a: writeFor(e.machine, 'START', 'RUNNING'),
          b: writeFor(e.machine, 'CANCEL', 'CANCELLED'),
        }));

        const outcomes = await Promise.all(
          races.flatMap(({ a, b }) => [store.applyTransition(a), store.applyTransition(b)]),
        );

        for (const [i, { e, a, b }] of races.entries()) {
          const pair = [outcomes[2 * i], outcomes[2 * i + 1]];
          expect(pair.slice().sort()).toEqual(['applied', 'conflict']);
          const winner = pair[0] === 'applied' ? a : b;
          expect(await store.getExecution(e.id)).toEqual(afterWrite(e, winner));
          expect(await store.listEvents(e.id)).toEqual([e.machine.last, winner.machine.last]);
        }
      });

      it('keeps outcomes right in a burst larger than any sensible batch', async () => {
        const { run, executions } = makeRunWithExecutions(700);
        await store.createRun(run, executions);
        const writes = executions.flatMap((e) => [
          writeFor(e.machine, 'START', 'RUNNING'),
          writeFor(e.machine, 'SKIP', 'SKIPPED'),
        ]);

        const outcomes = await Promise.all(writes.map((w) => store.applyTransition(w)));

        for (let i = 0; i < executions.length; i++) {
          expect([outcomes[2 * i], outcomes[2 * i + 1]].sort()).toEqual(['applied', 'conflict']);
        }
        const won = (to: Status) => writes.filter((w, i) => outcomes[i] === 'applied' && w.machine.last.to === to).length;
        const counts = await store.runCounts(run.id);
        expect((counts.RUNNING ?? 0) + (counts.SKIPPED ?? 0)).toBe(700);
        expect([counts.RUNNING ?? 0, counts.SKIPPED ?? 0]).toEqual([won('RUNNING'), won('SKIPPED')]);
        expect(await store.eventsSince(0, 10_000)).toHaveLength(1_400);
      });

      it('numbers each execution’s events 1..n without gaps, across interleaved writers', async () => {
        const { run, executions } = makeRunWithExecutions(4);
        await store.createRun(run, executions);
        const path = [
          ['START', 'RUNNING'],
          ['PAUSE', 'PAUSED'],
          ['RESUME', 'RUNNING'],
          ['ERROR', 'RETRYING'],
          ['START', 'RUNNING'],
          ['PASS', 'PASSED'],
        ] as const;
        let current = executions;
        for (const [event, to] of path) {
          const writes = current.map((e) => writeFor(e.machine, event, to, undefined, e.runId));
          expect(await Promise.all(writes.map((w) => store.applyTransition(w)))).toEqual(writes.map(() => 'applied'));
          current = current.map((e, i) => afterWrite(e, writes[i]!));
        }
        for (const e of current) {
          const events = await store.listEvents(e.id);
          expect(events.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
          expect(events.map((r) => r.from)).toEqual([null, 'PENDING', 'RUNNING', 'PAUSED', 'RUNNING', 'RETRYING', 'RUNNING']);
          expect(events.at(-1)).toMatchObject({ to: 'PASSED', attempt: 2 });
          expect(await store.getExecution(e.id)).toMatchObject({ status: 'PASSED', attempt: 2, version: 7 });
        }
      });
    });

    describe('the global event log', () => {
      it('eventsSince returns strictly increasing cursors across executions and pages without gaps or repeats', async () => {
        const a = makeRunWithExecutions(3);
        await store.createRun(a.run, a.executions);
        const b = makeExecution();
        await store.createExecution(b);
        let current = [...a.executions, b];
        for (const [event, to] of [['START', 'RUNNING'], ['PASS', 'PASSED']] as const) {
          const writes = current.map((e) => writeFor(e.machine, event, to, undefined, e.runId));
          await Promise.all(writes.map((w) => store.applyTransition(w)));
          current = current.map((e, i) => afterWrite(e, writes[i]!));
        }

        const all = await store.eventsSince(0, 1_000);
        expect(all).toHaveLength(12);
        for (let i = 1; i < all.length; i++) expect(all[i]!.cursor).toBeGreaterThan(all[i - 1]!.cursor);
        for (const e of current) {
          const mine = all.filter((x) => x.executionId === e.id);
          expect(mine.map((x) => x.record)).toEqual(await store.listEvents(e.id));
          expect(mine.every((x) => x.runId === e.runId)).toBe(true);
        }

        for (const limit of [1, 5, 12, 13]) {
          const paged = [];
          let cursor = 0;
          for (;;) {
            const page = await store.eventsSince(cursor, limit);
            expect(page.length).toBeLessThanOrEqual(limit);
            if (page.length === 0) break;
            paged.push(...page);
            cursor = page.at(-1)!.cursor;
          }
          expect(paged).toEqual(all);
        }
        expect(await store.eventsSince(all.at(-1)!.cursor, 10)).toEqual([]);
        expect(await store.eventsSince(all[3]!.cursor, 2)).toEqual(all.slice(4, 6));
      });

      it('recordSteps keeps the late steps of an attempt that ended without them, once, as step events', async () => {
        const e = makeExecution();
        await store.createExecution(e);
        const running = await drive(store, e, [['START', 'RUNNING']]);
        const cancelled = await drive(store, running, [['CANCEL', 'CANCELLED']]);
        const late = [step(0, 'PASSED'), step(1, 'CANCELLED', { output: 'stopped' }), step(2, 'SKIPPED')];
        expect(await store.recordSteps({ executionId: e.id, runId: null, attempt: 1, items: late })).toBe('applied');
        expect((await store.listSteps(e.id)).map((s) => [s.attempt, s.index, s.status])).toEqual([
          [1, 0, 'PASSED'],
          [1, 1, 'CANCELLED'],
          [1, 2, 'SKIPPED'],
        ]);
        // Never over steps already stored for that attempt; never for an unknown execution.
        expect(await store.recordSteps({ executionId: e.id, runId: null, attempt: 1, items: [step(0, 'FAILED')] })).toBe('conflict');
        expect(await store.recordSteps({ executionId: 'exe_unknown', runId: null, attempt: 1, items: late })).toBe('not_found');
        expect((await store.listSteps(e.id))[0]!.status).toBe('PASSED');
        const log = (await store.logSince(0, 100)).filter((x) => x.executionId === e.id);
        expect(log.map((x) => (x.kind === 'step' ? `step ${x.step.index}` : x.record.to))).toEqual([
          'PENDING', 'RUNNING', 'CANCELLED', 'step 0', 'step 1', 'step 2',
        ]);
        expect(await store.getExecution(e.id)).toEqual(cancelled);
      });

      it('logSince interleaves step events, just before the transition that ended their attempt, in one cursor order', async () => {
        const a = makeExecution();
        const b = makeExecution();
        await store.createExecution(a);
        await store.createExecution(b);
        const runningA = await drive(store, a, [['START', 'RUNNING']]);
        const runningB = await drive(store, b, [['START', 'RUNNING']]);
        const stepsA = [step(0, 'PASSED', { output: 'ok' }), step(1, 'FAILED', { error: { code: 'X', message: 'no', retryable: true } })];
        const endA = writeFor(runningA.machine, 'FAIL', 'FAILED', { attempt: 1, items: stepsA });
        const endB = writeFor(runningB.machine, 'PASS', 'PASSED', { attempt: 1, items: [step(0, 'PASSED')] });
        expect(await Promise.all([store.applyTransition(endA), store.applyTransition(endB)])).toEqual(['applied', 'applied']);

        const log = await store.logSince(0, 1_000);
        const what = log.map((e) =>
          e.kind === 'transition' ? `${e.executionId === a.id ? 'a' : 'b'} ${e.record.to}` : `${e.executionId === a.id ? 'a' : 'b'} step ${e.step.index}`,
        );
        expect(what).toEqual(['a PENDING', 'b PENDING', 'a RUNNING', 'b RUNNING', 'a step 0', 'a step 1', 'a FAILED', 'b step 0', 'b PASSED']);
        for (let i = 1; i < log.length; i++) expect(log[i]!.cursor).toBeGreaterThan(log[i - 1]!.cursor);
        const stepEntry = log.find((e) => e.kind === 'step' && e.step.index === 1);
        expect(stepEntry).toEqual({
          kind: 'step',
          cursor: expect.any(Number),
          executionId: a.id,
          runId: null,
          step: { attempt: 1, ...stepsA[1] },
        });
        // Transitions alone keep their cursors; the newest cursor counts both kinds.
        expect((await store.eventsSince(0, 1_000)).map((e) => e.cursor)).toEqual(
          log.filter((e) => e.kind === 'transition').map((e) => e.cursor),
        );
        expect(await store.latestCursor()).toBe(log.at(-1)!.cursor);
        // Pages of any size give the same sequence.
        for (const limit of [1, 2, 4]) {
          const paged = [];
          let cursor = 0;
          for (let page = await store.logSince(cursor, limit); page.length > 0; page = await store.logSince(cursor, limit)) {
            expect(page.length).toBeLessThanOrEqual(limit);
            paged.push(...page);
            cursor = page.at(-1)!.cursor;
          }
          expect(paged).toEqual(log);
        }
      });
    });

    storeQueryTests(() => ({ store, sut }));

    storeModelTests(() => store);
    storeCatalogTests(() => store);
    storeHistoryTests(() => ({ store, sut }));
    storeTriggerTests(() => ({ store, sut }));
  });
}
