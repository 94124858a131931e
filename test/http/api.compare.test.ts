import type { RunComparison } from '../../src/report/run-report.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { item } from '../helpers/engine.js';
import { expectError, missingId, startTestServer, type Client, type SubmittedRun } from '../helpers/server.js';
import { runEnded, startTarget, type Target } from '../helpers/target.js';

/** GET /v1/runs/:id/compare/:baseId and the report's comparison with the previous run of its series (SPEC §8). */

type Comparison = RunComparison;

// A target: /ok answers 200, /bad 500.
let target: Target;
beforeAll(async () => {
  target = await startTarget();
});
afterAll(() => target[Symbol.asyncDispose]());

const passes = (name: string) => item(name, target.get('/ok'));
const fails = (name: string) => item(name, target.get('/bad'));
const sleeps = (name: string, ms: number) => item(name, [{ action: 'sleep', ms }]);

async function endedRun(client: Client, items: unknown[], name = 'nightly', labels: Record<string, string> = { repository: 'acme/shop' }): Promise<string> {
  const submitted = await client.post<SubmittedRun>('/v1/runs', { name, labels, items });
  expect(submitted.status, submitted.text).toBe(201);
  const id = submitted.body.id;
  await runEnded(client, id);
  return id;
}

describe('comparing runs', () => {
  it('tells new failures, fixed, still failing, flaky across runs, added, removed and slower; the report compares with the previous run of its series', async () => {
    await using s = await startTestServer({ EXECUTION_RETRY_MAX_ATTEMPTS: '1' });
    const alice = await s.client('alice');
    // The worker threads start with the first run: its tests take that time too.
    await endedRun(alice, [sleeps('warm-up', 0)], 'warm-up');
    const first = await endedRun(alice, [passes('a'), passes('b'), fails('c'), fails('d'), passes('gone'), sleeps('slow', 0)]);
    // Another series between them: another repository, and another name.
    await endedRun(alice, [fails('a')], 'nightly', { repository: 'acme/other' });
    await endedRun(alice, [fails('a')], 'smoke');
    const second = await endedRun(alice, [fails('a'), passes('b'), passes('c'), fails('d'), passes('new'), sleeps('slow', 2500)]);

    const res = await alice.get<Comparison>(`/v1/runs/${second}/compare/${first}`);
    expect(res.status, res.text).toBe(200);
    const expected = {
      baseRunId: first,
      newFailures: ['a'],
      fixed: ['c'],
      stillFailing: ['d'],
      // a and c both passed and failed within the series' last runs; d failed both times, b passed both times.
      flaky: ['a', 'c'],
      added: ['new'],
      removed: ['gone'],
    };
    expect(res.body).toMatchObject(expected);
    // The 2.5 s sleep is slower for sure. On a loaded machine `b` may be too; only tests that passed in both runs
    // can be (b and slow), so nothing else may be listed.
    expect(res.body.slower.find((t) => t.name === 'slow')?.ms).toBeGreaterThanOrEqual(2500);
    expect(res.body.slower.map((t) => t.name).filter((n) => n !== 'b' && n !== 'slow')).toEqual([]);

    const report = await alice.get<{ comparison?: Comparison }>(`/v1/runs/${second}/report`);
    expect(report.body.comparison).toEqual(res.body);
    expect((await alice.get<{ comparison?: Comparison }>(`/v1/runs/${first}/report`)).body).not.toHaveProperty('comparison');

    // The other way round: what the first run had that the second lost.
    const back = await alice.get<Comparison>(`/v1/runs/${first}/compare/${second}`);
    expect(back.body).toMatchObject({ newFailures: ['c'], fixed: ['a'], stillFailing: ['d'], added: ['gone'], removed: ['new'] });
  });

  it('answers 404 for a run or base run the caller cannot see, and 400 for a query', async () => {
    await using s = await startTestServer();
    const alice = await s.client('alice');
    const bob = await s.client('bob');
    const one = await endedRun(alice, [sleeps('x', 0)]);
    const two = await endedRun(alice, [sleeps('x', 0)]);
    const bobs = await endedRun(bob, [sleeps('x', 0)]);
    expectError(await bob.get(`/v1/runs/${two}/compare/${one}`), 404, 'NOT_FOUND');
    expectError(await bob.get(`/v1/runs/${bobs}/compare/${one}`), 404, 'NOT_FOUND');
    expectError(await alice.get(`/v1/runs/${two}/compare/${missingId('run')}`), 404, 'NOT_FOUND');
    expectError(await alice.get(`/v1/runs/${two}/compare/${one}?limit=1`), 400, 'VALIDATION_FAILED');
    const admin = await s.client('root', ['admin']);
    expect((await admin.get<Comparison>(`/v1/runs/${bobs}/compare/${one}`)).body).toMatchObject({ baseRunId: one, newFailures: [], added: [], removed: [] });
  });

  it("never compares a report with another owner's run of the same name and repository, nor counts its failures", async () => {
    await using s = await startTestServer({ EXECUTION_RETRY_MAX_ATTEMPTS: '1' });
    const alice = await s.client('alice');
    const bob = await s.client('bob');
    await endedRun(alice, [passes('shared'), passes('alice-only')]);
    // Bob names his run and labels its repository as Alice's: anyone can.
    const bobFirst = await endedRun(bob, [fails('shared'), passes('bob-only')]);
    const bobReport = await bob.get<{ comparison?: Comparison }>(`/v1/runs/${bobFirst}/report`);
    expect(bobReport.status, bobReport.text).toBe(200);
    expect(bobReport.body).not.toHaveProperty('comparison');
    const html = await bob.get(`/v1/runs/${bobFirst}/report?format=html`);
    expect(html.text).not.toContain('alice-only');

    const aliceSecond = await endedRun(alice, [passes('shared'), passes('alice-only')]);
    const aliceReport = await alice.get<{ comparison?: Comparison }>(`/v1/runs/${aliceSecond}/report`);
    // Compared with her own first run; Bob's failure of `shared` does not make it flaky in her series.
    expect(aliceReport.body.comparison).toMatchObject({ newFailures: [], fixed: [], flaky: [], added: [], removed: [] });
    expect(aliceReport.body.comparison?.baseRunId).not.toBe(bobFirst);
  });
});
