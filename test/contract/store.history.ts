import { beforeEach, describe, expect, it } from 'vitest';
import { HISTORY_DEPTH, seriesOf } from '../../src/core/series.js';
import type { Status } from '../../src/core/statuses.js';
import type { ExecutionRecord, RunRecord, Store } from '../../src/store/store.port.js';
import { makeExecution, makeRun, step, tick, writeFor } from './store.fixtures.js';
import { applyAll, drive, type StoreUnderTest } from './store.support.js';

type Outcome = 'PASSED' | 'FAILED' | 'FLAKY';

/**
 * Test history (SPEC §8): a run's facts in three reads, the outcomes recorded once when a run ends, the previous
 * run of a series, and each test's last outcomes and duration; registered by storeContract inside its describe.
 */
export function storeHistoryTests(current: () => { store: Store; sut: StoreUnderTest }): void {
  let store: Store;
  let sut: StoreUnderTest;
  beforeEach(() => {
    ({ store, sut } = current());
  });

  /** Stores an ended run of the given tests (by name): each passes, fails, or fails once and passes on a retry. */
  async function endedRun(
    tests: Record<string, Outcome>,
    labels: Record<string, string> = { repository: 'acme/shop' },
    name = 'nightly',
    owner = 'alice',
  ): Promise<RunRecord> {
    const run = { ...makeRun({ owner }), name, labels, failFast: false, total: Object.keys(tests).length };
    const executions = Object.keys(tests).map((test) => makeExecution({ runId: run.id, name: test }));
    await store.createRun(run, executions);
    for (const [i, outcome] of Object.values(tests).entries()) await finish(executions[i] as ExecutionRecord, outcome);
    const at = tick();
    await store.setRunStatus(run.id, Object.values(tests).includes('FAILED') ? 'FAILED' : 'PASSED', at);
    await store.recordRunHistory(run.id, at);
    return (await store.getRun(run.id)) as RunRecord;
  }

  async function finish(e: ExecutionRecord, outcome: Outcome): Promise<void> {
    let current = await drive(store, e, [['START', 'RUNNING']]);
    if (outcome === 'FLAKY') {
      current = await applyAll(store, current, [writeFor(current.machine, 'FAIL', 'RETRYING', { attempt: 1, items: [step(0, 'FAILED')] }, e.runId)]);
      current = await drive(store, current, [['START', 'RUNNING']]);
    }
    const [event, to] = outcome === 'FAILED' ? (['FAIL', 'FAILED'] as const) : (['PASS', 'PASSED'] as const);
    await applyAll(store, current, [writeFor(current.machine, event, to, { attempt: current.attempt, items: [step(0, to)] }, e.runId)]);
  }

  describe('test history', () => {
    it("runFacts reads a run's executions in creation order with their transitions and steps", async () => {
      const run = await endedRun({ first: 'PASSED', second: 'FLAKY' });
      const facts = await store.runFacts(run.id);
      expect(facts.map((f) => [f.name, f.status, f.attempt])).toEqual([['first', 'PASSED', 1], ['second', 'PASSED', 2]]);
      expect(facts[1]?.events.map((e) => e.to)).toEqual(['PENDING', 'RUNNING', 'RETRYING', 'RUNNING', 'PASSED']);
      expect(facts[1]?.steps.map((s) => [s.attempt, s.status])).toEqual([[1, 'FAILED'], [2, 'PASSED']]);
      expect(await store.runFacts('run_unknown')).toEqual([]);
    });

    it('records the outcomes of an ended run once, in report order', async () => {
      const run = { ...makeRun(), labels: { repository: 'acme/shop' } };
      const e = makeExecution({ runId: run.id, name: 'login' });
      await store.createRun(run, [e]);
      await store.setRunStatus(run.id, 'RUNNING', tick());
      expect(await store.runOutcomes(run.id)).toBeNull();
      await finish(e, 'FLAKY');
      const at = tick();
      await store.setRunStatus(run.id, 'PASSED', at);
      expect(await store.runOutcomes(run.id)).toBeNull();
      await store.recordRunHistory(run.id, at);
      const outcomes = await store.runOutcomes(run.id);
      expect(outcomes).toEqual([{ name: 'login', status: 'PASSED', durationMs: expect.any(Number), flaky: true }]);
      // Recorded again (a restarted engine settling the run) records nothing twice.
      await store.recordRunHistory(run.id, tick());
      expect(await store.runOutcomes(run.id)).toEqual(outcomes);
      expect((await store.testHistory(seriesOf(run), ['login'])).get('login')?.outcomes).toEqual(['PASSED']);
    });

    it('the previous run is the newest ended run of the same owner, name and repository created before', async () => {
      const first = await endedRun({ a: 'PASSED' });
      await endedRun({ a: 'PASSED' }, { repository: 'acme/other' });
      await endedRun({ a: 'PASSED' }, { repository: 'acme/shop' }, 'smoke');
      const bobs = await endedRun({ a: 'FAILED', b: 'FAILED' }, { repository: 'acme/shop' }, 'nightly', 'bob');
      const second = await endedRun({ a: 'FAILED' });
      const unlabelled = await endedRun({ a: 'PASSED' }, {});
      const running = { ...makeRun(), labels: { repository: 'acme/shop' } };
      await store.createRun(running, []);
      const third = await endedRun({ a: 'PASSED' });

      expect(await store.previousRun(first.id)).toBeNull();
      expect(await store.previousRun(second.id)).toBe(first.id);
      expect(await store.previousRun(third.id)).toBe(second.id);
      expect(await store.previousRun(running.id)).toBe(second.id);
      expect(await store.previousRun(unlabelled.id)).toBeNull();
      // Another owner's run of the same name and repository is a series of its own: never compared with, and its
      // failures are not in this series' history.
      expect(await store.previousRun(bobs.id)).toBeNull();
      expect((await store.testHistory(seriesOf(second), ['a'])).get('a')?.outcomes).toEqual(['PASSED', 'FAILED', 'PASSED']);
      expect([...(await store.testHistory(seriesOf(bobs))).keys()].sort()).toEqual(['a', 'b']);
      expect(await store.previousRun('run_unknown')).toBeNull();
    });

    it(`keeps the last ${HISTORY_DEPTH} outcomes of each test in its series, oldest first, and the newest duration`, async () => {
      const statuses: Status[] = [];
      let last: RunRecord | undefined;
      for (let i = 0; i < HISTORY_DEPTH + 2; i++) {
        const outcome: Outcome = i % 3 === 0 ? 'FAILED' : 'PASSED';
        last = await endedRun({ steady: 'PASSED', wobbly: outcome });
        statuses.push(outcome);
      }
      const series = seriesOf(last as RunRecord);
      const all = await store.testHistory(series);
      expect([...all.keys()].sort()).toEqual(['steady', 'wobbly']);
      expect(all.get('wobbly')?.outcomes).toEqual(statuses.slice(-HISTORY_DEPTH));
      expect(all.get('steady')?.outcomes).toEqual(Array(HISTORY_DEPTH).fill('PASSED'));
      const outcomes = (await store.runOutcomes((last as RunRecord).id)) ?? [];
      expect(all.get('wobbly')?.durationMs).toBe(outcomes.find((o) => o.name === 'wobbly')?.durationMs);
      expect([...(await store.testHistory(series, ['wobbly', 'missing'])).keys()]).toEqual(['wobbly']);
      expect((await store.testHistory(seriesOf({ owner: 'alice', name: 'nightly', labels: {} }))).size).toBe(0);
    });

    it('lists the ended runs whose history is not recorded, oldest first, among the newest runs', async () => {
      const recorded = await endedRun({ a: 'PASSED' });
      const unrecorded: RunRecord[] = [];
      for (const outcome of ['PASSED', 'FAILED'] as const) {
        const run = { ...makeRun(), total: 0 };
        await store.createRun(run, []);
        await store.setRunStatus(run.id, outcome, tick());
        unrecorded.push((await store.getRun(run.id)) as RunRecord);
      }
      const running = makeRun();
      await store.createRun(running, []);
      expect(await store.runsWithoutHistory(10)).toEqual(unrecorded.map((r) => ({ id: r.id, endedAt: r.updatedAt })));
      // Only the newest ended runs are looked at.
      expect(await store.runsWithoutHistory(1)).toEqual([{ id: unrecorded[1]?.id, endedAt: unrecorded[1]?.updatedAt }]);
      await store.recordRunHistory((unrecorded[0] as RunRecord).id, tick());
      expect((await store.runsWithoutHistory(10)).map((r) => r.id)).toEqual([unrecorded[1]?.id]);
      expect((await store.runsWithoutHistory(10)).map((r) => r.id)).not.toContain(recorded.id);
    });

    it('records a run larger than a page whole, in order, naming a repeated test as JUnit does', async () => {
      const n = 2501; // the SQLite adapter writes 1,000 executions a page
      const run = { ...makeRun(), labels: { repository: 'acme/big' }, total: n };
      const executions = Array.from({ length: n }, (_, i) => makeExecution({ runId: run.id, name: i === n - 1 ? 'test 0' : `test ${i}` }));
      await store.createRun(run, executions);
      await Promise.all(executions.map(async (e, i) => {
        const running = await drive(store, e, [['START', 'RUNNING']]);
        await applyAll(store, running, [writeFor(running.machine, i % 7 === 0 ? 'FAIL' : 'PASS', i % 7 === 0 ? 'FAILED' : 'PASSED', { attempt: 1, items: [step(0, 'PASSED')] }, run.id)]);
      }));
      await store.setRunStatus(run.id, 'FAILED', tick());
      await store.recordRunHistory(run.id, tick());
      const outcomes = (await store.runOutcomes(run.id)) ?? [];
      expect(outcomes.map((o) => o.name)).toEqual(executions.map((e, i) => (i === n - 1 ? 'test 0 (2)' : e.name)));
      expect(outcomes.filter((o) => o.status === 'FAILED')).toHaveLength(Math.ceil(n / 7));
      const history = await store.testHistory(seriesOf(run));
      expect(history.size).toBe(n);
      expect(history.get('test 0')?.outcomes).toEqual(['FAILED']);
      expect(history.get('test 0 (2)')?.outcomes).toEqual(['PASSED']);
      // Recorded again: nothing changes.
      await store.recordRunHistory(run.id, tick());
      expect(await store.runOutcomes(run.id)).toEqual(outcomes);
      expect((await store.testHistory(seriesOf(run), ['test 1'])).get('test 1')?.outcomes).toEqual(['PASSED']);
    });

    it('the history survives a reopen', async (ctx) => {
      if (!sut.reopen) return ctx.skip();
      const run = await endedRun({ kept: 'FAILED' });
      await store.close();
      store = await sut.reopen();
      expect(await store.runOutcomes(run.id)).toEqual([{ name: 'kept', status: 'FAILED', durationMs: expect.any(Number), flaky: false }]);
      expect((await store.testHistory(seriesOf(run))).get('kept')?.outcomes).toEqual(['FAILED']);
    });
  });
}
