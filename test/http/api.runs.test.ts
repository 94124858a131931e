import { describe, expect, it } from 'vitest';
import { item, waitFor } from '../helpers/engine.js';
import {
  expectError,
  missingId,
  startTestServer,
  waitForStatus,
  type Client,
  type Execution,
  type Page,
  type RunView,
  type SubmittedRun,
  type TestServer,
} from '../helpers/server.js';

/** Runs through the HTTP API: submit, get with counts, list, members, cancel, idempotency (SPEC §4, §7). */

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

async function submit(client: Client, body: unknown): Promise<SubmittedRun> {
  const res = await client.post<SubmittedRun>('/v1/runs', body);
  expect(res.status, res.text).toBe(201);
  return res.body;
}

function noPoolServer(env: Record<string, string> = {}): Promise<TestServer> {
  return startTestServer({ EXECUTION_MAX_CONCURRENT_JOBS: '1000', ...env }, { pool: false });
}

describe('POST /v1/runs and GET /v1/runs/:id', () => {
  it('201 { id, status, executionIds } in item order; the run ends PASSED with counts; its executions are listed', async () => {
    await using s = await startTestServer();
    const cid = await s.client('cid');
    const names = ['one', 'two', 'three', 'four'];
    const body = {
      name: 'nightly',
      context: 'CI_CD',
      priority: 'HIGH',
      labels: { commit: 'abc123', branch: 'main' },
      items: names.map((n) => item(n)),
    };
    const res = await cid.post('/v1/runs', body);
    expect(res.status, res.text).toBe(201);
    expect(Object.keys(res.body as object).sort()).toEqual(['executionIds', 'id', 'status']);
    expect(res.body.id).toMatch(/^run_[0-9a-z]{26}$/);
    expect(res.body.status).toBe('PENDING');
    expect(res.body.executionIds).toHaveLength(4);
    const run = res.body as { id: string; executionIds: string[] };
    for (const [i, id] of run.executionIds.entries()) {
      const e = await cid.get(`/v1/executions/${id}`);
      expect(e.body).toMatchObject({ name: names[i], runId: run.id, owner: 'cid', priority: 'HIGH', context: 'CI_CD' });
    }

    const done = await waitFor(async () => {
      const r = await cid.get(`/v1/runs/${run.id}`);
      return r.body.status === 'PASSED' ? r : undefined;
    }, 'the run to pass');
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({
      id: run.id,
      name: 'nightly',
      status: 'PASSED',
      total: 4,
      counts: { PASSED: 4 },
      owner: 'cid',
      priority: 'HIGH',
      context: 'CI_CD',
      labels: { commit: 'abc123', branch: 'main' },
      createdAt: expect.stringMatching(ISO),
      updatedAt: expect.stringMatching(ISO),
    });

    const members = await cid.get<Page<Execution>>(`/v1/runs/${run.id}/executions`);
    expect(members.status).toBe(200);
    expect(members.body.next).toBeNull();
    expect(members.body.items.map((e) => e.id)).toEqual([...run.executionIds].reverse());
    expect(members.body.items.every((e) => e.status === 'PASSED' && e.runId === run.id)).toBe(true);
    const page = await cid.get<Page<Execution>>(`/v1/runs/${run.id}/executions?limit=3&status=PASSED`);
    expect(page.body.items).toHaveLength(3);
    const rest = await cid.get<Page<Execution>>(`/v1/runs/${run.id}/executions?cursor=${page.body.next!}`);
    expect(rest.body.items.map((e) => e.id)).toEqual([run.executionIds[0]]);
    expect((await cid.get(`/v1/runs/${run.id}/executions?status=FAILED`)).body.items).toEqual([]);
  });

  it('counts follow the executions live: RUNNING while some run, CANCELLED after a run cancel', async () => {
    await using s = await noPoolServer();
    const cid = await s.client('cid');
    const run = await submit(cid, { items: [item('a'), item('b'), item('c')] });
    for (const id of run.executionIds) await waitForStatus(cid, id, 'RUNNING');
    const running = await waitFor(async () => {
      const r = await cid.get<RunView>(`/v1/runs/${run.id}`);
      return r.body.status === 'RUNNING' ? r.body : undefined;
    }, 'the run to be RUNNING');
    expect(running).toMatchObject({ total: 3, counts: { RUNNING: 3 } });

    await cid.post(`/v1/executions/${run.executionIds[0]!}/cancel`);
    await waitFor(async () => (await cid.get(`/v1/runs/${run.id}`)).body.counts.CANCELLED === 1, 'one cancelled');
    expect((await cid.get(`/v1/runs/${run.id}`)).body.counts).toEqual({ RUNNING: 2, CANCELLED: 1 });

    const cancel = await cid.post(`/v1/runs/${run.id}/cancel`);
    expect(cancel.status, cancel.text).toBe(202);
    expect(cancel.body).toEqual({ id: run.id, status: 'CANCELLING' });
    const final = await waitFor(async () => {
      const r = await cid.get<RunView>(`/v1/runs/${run.id}`);
      return r.body.status === 'CANCELLED' ? r.body : undefined;
    }, 'the run to be CANCELLED');
    expect(final.counts).toEqual({ CANCELLED: 3 });

    const again = await cid.post(`/v1/runs/${run.id}/cancel`);
    expectError(again, 409, 'ILLEGAL_TRANSITION');
    expect(again.body.error.details.status).toBe('CANCELLED');
    expect(again.body.error.message).toContain('CANCELLED');
  });

  it('cancel of a missing run → 404; a viewer → 403; an unknown query parameter → 400', async () => {
    await using s = await noPoolServer();
    const cid = await s.client('cid');
    const viewer = await s.client('cid', ['viewer']);
    const run = await submit(cid, { items: [item('a')] });
    expectError(await cid.post(`/v1/runs/${missingId('run')}/cancel`), 404, 'NOT_FOUND');
    expectError(await viewer.post(`/v1/runs/${run.id}/cancel`), 403, 'FORBIDDEN');
    expectError(await cid.post(`/v1/runs/${run.id}/cancel?force=1`), 400, 'VALIDATION_FAILED');
    expectError(await cid.get(`/v1/runs/${run.id}?expand=1`), 400, 'VALIDATION_FAILED');
    expectError(await cid.get(`/v1/runs/${run.id}/executions?owner=cid`), 400, 'VALIDATION_FAILED');
    expectError(await cid.get(`/v1/runs/${run.id}/executions?limit=0`), 400, 'VALIDATION_FAILED');
    expectError(await cid.get(`/v1/runs/${missingId('run')}`), 404, 'NOT_FOUND');
    expectError(await cid.get(`/v1/runs/${missingId('run')}/executions`), 404, 'NOT_FOUND');
    expect((await viewer.get(`/v1/runs/${run.id}`)).status).toBe(200);
  });

  it.each([
    ['no items', {}, 'items'],
    ['empty items', { items: [] }, 'items'],
    ['a bad second item', { items: [item('fine'), { name: 'broken', type: 'GENERIC', steps: [{ action: 'warp' }] }] }, 'item 1 (broken)'],
    ['an item with an unknown field', { items: [{ ...item('odd'), flavour: 'lime' }] }, 'item 0 (odd)'],
    ['an unknown field', { items: [item('a')], colour: 'red' }, 'colour'],
    ['a bad priority', { items: [item('a')], priority: 'NOW' }, 'priority'],
    ['a bad maxParallel', { items: [item('a')], maxParallel: 0 }, 'maxParallel'],
    ['a non-boolean failFast', { items: [item('a')], failFast: 'yes' }, 'failFast'],
    ['labels that are not strings', { items: [item('a')], labels: { n: 1 } }, 'labels'],
    ['items that are not an array', { items: item('a') }, 'items'],
  ])('%s → 400 VALIDATION_FAILED naming it; nothing is stored', async (_what, body, mentions) => {
    await using s = await noPoolServer();
    const cid = await s.client('cid');
    const res = await cid.post('/v1/runs', body);
    expectError(res, 400, 'VALIDATION_FAILED');
    expect(`${res.body.error.message} ${JSON.stringify(res.body.error.details)}`).toContain(mentions);
    expect((await cid.get('/v1/runs')).body.items).toEqual([]);
    expect((await cid.get('/v1/executions')).body.items).toEqual([]);
  });
});

describe('GET /v1/runs', () => {
  it('lists newest first with cursor pagination covering each run once, and filters by status and time', async () => {
    await using s = await noPoolServer();
    const rae = await s.client('rae');
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await submit(rae, { name: `r${i}`, items: [item(`x${i}`)] })).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { status: number; text: string; body: Page<RunView> } = await rae.get(`/v1/runs?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status, res.text).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      for (const r of res.body.items) expect(r).toMatchObject({ total: 1, counts: expect.any(Object), owner: 'rae' });
      seen.push(...res.body.items.map((r) => r.id));
      cursor = res.body.next;
    } while (cursor !== null && seen.length < 100);
    expect(seen).toEqual([...ids].reverse());

    await rae.post(`/v1/runs/${ids[3]!}/cancel`);
    await waitFor(async () => (await rae.get(`/v1/runs/${ids[3]!}`)).body.status === 'CANCELLED', 'run cancelled');
    expect((await rae.get<Page<RunView>>('/v1/runs?status=CANCELLED')).body.items.map((r) => r.id)).toEqual([ids[3]]);
    const third = (await rae.get<RunView>(`/v1/runs/${ids[2]!}`)).body.createdAt;
    const after = (await rae.get<Page<RunView>>(`/v1/runs?createdAfter=${third}`)).body.items.map((r) => r.id);
    for (const id of after) expect(ids.indexOf(id)).toBeGreaterThan(2);
    expect(after).not.toContain(ids[2]);
  });

  it.each(['limit=0', 'limit=1001', 'status=SCHEDULED', 'runId=x', 'cursor=nonsense', 'createdBefore=now', 'priority=HIGH'])(
    '%s → 400',
    async (query) => {
      await using s = await noPoolServer();
      const rae = await s.client('rae');
      expectError(await rae.get(`/v1/runs?${query}`), 400, 'VALIDATION_FAILED');
    },
  );
});

describe('idempotency keys', () => {
  it('the same key and body → 200 with the same run; a different body → 409; another owner’s key is theirs', async () => {
    await using s = await noPoolServer();
    const ida = await s.client('ida');
    const ned = await s.client('ned');
    const body = { idempotencyKey: 'pipeline-42', labels: { commit: 'c0ffee' }, items: [item('a'), item('b')] };
    const first = await ida.post('/v1/runs', body);
    expect(first.status).toBe(201);
    // Key order does not make it a different request.
    const replay = await ida.post('/v1/runs', { items: body.items, labels: body.labels, idempotencyKey: 'pipeline-42' });
    expect(replay.status, replay.text).toBe(200);
    expect(replay.body).toMatchObject({ id: first.body.id, executionIds: first.body.executionIds });

    const conflict = await ida.post('/v1/runs', { ...body, items: [item('a')] });
    expectError(conflict, 409, 'IDEMPOTENCY_CONFLICT');
    expect(conflict.body.error.message).toContain('pipeline-42');

    expect((await ida.get('/v1/runs')).body.items).toHaveLength(1);
    expect((await ida.get('/v1/executions')).body.items).toHaveLength(2);

    const theirs = await ned.post('/v1/runs', body);
    expect(theirs.status).toBe(201);
    expect(theirs.body.id).not.toBe(first.body.id);
  });
});
