import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { item } from '../helpers/engine.js';
import {
  expectError,
  missingId,
  startTestServer,
  waitForStatus,
  type ApiResponse,
  type Client,
  type Execution,
  type Page,
  type RunView,
  type SubmittedRun,
  type TestServer,
  type TransitionView,
} from '../helpers/server.js';

/**
 * A user sees only their own executions and runs: someone else's answer 404 exactly like a missing id
 * (SPEC §5), for reads, commands and lists, and nothing the other user tries changes anything.
 */

let s: TestServer;
let ann: Client;
let ben: Client;
let benViewer: Client;
let running: string;
let finished: string;
let run: SubmittedRun;

beforeAll(async () => {
  s = await startTestServer({ EXECUTION_MAX_CONCURRENT_JOBS: '1000' }, { pool: false });
  ann = await s.client('ann', ['runner']);
  ben = await s.client('ben', ['runner']);
  benViewer = await s.client('ben', ['viewer']);
  running = (await ann.post('/v1/executions', item('ann running'))).body.id as string;
  finished = (await ann.post('/v1/executions', item('ann finished'))).body.id as string;
  run = (await ann.post<SubmittedRun>('/v1/runs', { name: 'ann run', items: [item('r1'), item('r2')] })).body;
  for (const id of [running, finished, ...run.executionIds]) await waitForStatus(ann, id, 'RUNNING');
  expect((await ann.post(`/v1/executions/${finished}/cancel`)).status).toBe(200);
  await ben.post('/v1/executions', item('ben own'));
  await ben.post('/v1/runs', { items: [item('ben r')] });
});
afterAll(async () => {
  await s[Symbol.asyncDispose]();
});

/** The answer with every id in it replaced by a placeholder, to compare answers about different ids. */
function normalised(res: ApiResponse, ...ids: string[]) {
  let text = res.text;
  for (const id of ids) text = text.replaceAll(id, '<id>');
  return { status: res.status, contentType: res.headers.get('content-type'), body: JSON.parse(text) as unknown };
}

type Op = [string, (c: Client, id: string) => Promise<ApiResponse>, 'exe' | 'run', () => string];
const ops: Op[] = [
  ['GET execution', (c, id) => c.get(`/v1/executions/${id}`), 'exe', () => running],
  ['GET steps', (c, id) => c.get(`/v1/executions/${id}/steps`), 'exe', () => running],
  ['GET events', (c, id) => c.get(`/v1/executions/${id}/events`), 'exe', () => running],
  ['cancel', (c, id) => c.post(`/v1/executions/${id}/cancel`), 'exe', () => running],
  ['cancel with a reason', (c, id) => c.post(`/v1/executions/${id}/cancel`, { reason: 'mine now' }), 'exe', () => running],
  ['pause', (c, id) => c.post(`/v1/executions/${id}/pause`), 'exe', () => running],
  ['resume', (c, id) => c.post(`/v1/executions/${id}/resume`), 'exe', () => running],
  ['retry of a finished one', (c, id) => c.post(`/v1/executions/${id}/retry`), 'exe', () => finished],
  ['retry of a running one', (c, id) => c.post(`/v1/executions/${id}/retry`), 'exe', () => running],
  ['cancel of a finished one', (c, id) => c.post(`/v1/executions/${id}/cancel`), 'exe', () => finished],
  ['GET run', (c, id) => c.get(`/v1/runs/${id}`), 'run', () => run.id],
  ['GET run executions', (c, id) => c.get(`/v1/runs/${id}/executions`), 'run', () => run.id],
  ['GET run executions, filtered', (c, id) => c.get(`/v1/runs/${id}/executions?status=RUNNING&limit=5`), 'run', () => run.id],
  ['cancel run', (c, id) => c.post(`/v1/runs/${id}/cancel`), 'run', () => run.id],
];

describe("another user's executions and runs", () => {
  it('the ids are real: their owner reads every one of them', async () => {
    for (const id of [running, finished]) {
      for (const suffix of ['', '/steps', '/events']) expect((await ann.get(`/v1/executions/${id}${suffix}`)).status).toBe(200);
    }
    expect((await ann.get(`/v1/runs/${run.id}`)).status).toBe(200);
    expect((await ann.get(`/v1/runs/${run.id}/executions`)).status).toBe(200);
  });

  it.each(ops)('%s as another runner → 404 exactly like a missing id', async (_what, op, kind, target) => {
    const missing = missingId(kind);
    const theirs = await op(ben, target());
    const none = await op(ben, missing);
    expectError(theirs, 404, 'NOT_FOUND');
    expect(normalised(theirs, target())).toEqual(normalised(none, missing));
  });

  it.each(ops)('%s as another user with the viewer role → the same answer as for a missing id', async (_what, op, kind, target) => {
    const missing = missingId(kind);
    const theirs = await op(benViewer, target());
    const none = await op(benViewer, missing);
    expect([403, 404]).toContain(theirs.status);
    expectError(theirs, theirs.status);
    expect(normalised(theirs, target())).toEqual(normalised(none, missing));
  });

  it("nothing the other user tried changed the owner's executions or runs", async () => {
    const events = async (id: string) => (await ann.get<Page<TransitionView>>(`/v1/executions/${id}/events`)).body.items;
    expect((await events(running)).map((e) => e.to)).toEqual(['PENDING', 'RUNNING']);
    expect((await events(finished)).map((e) => e.to)).toEqual(['PENDING', 'RUNNING', 'CANCELLED']);
    const r = await ann.get(`/v1/runs/${run.id}`);
    expect(r.body).toMatchObject({ status: 'RUNNING', counts: { RUNNING: 2 } });
    // No rerun was created for anyone.
    const root = await s.client('root', ['admin']);
    const all = (await root.get<Page<Execution>>('/v1/executions')).body.items;
    expect(all.filter((e) => e.rerunOf !== null)).toEqual([]);
    expect(all.map((e) => e.owner).sort()).toEqual(['ann', 'ann', 'ann', 'ann', 'ben', 'ben']);
  });

  it("lists never contain the other user's items, whatever the filters say", async () => {
    const annIds = [running, finished, ...run.executionIds];
    for (const query of ['', '?owner=ann', `?runId=${run.id}`, '?status=RUNNING', '?status=CANCELLED', '?limit=1000', '?context=API']) {
      const res = await ben.get<Page<Execution>>(`/v1/executions${query}`);
      expect(res.status, query).toBe(200);
      const ids = res.body.items.map((e) => e.id);
      for (const id of annIds) expect(ids, query).not.toContain(id);
      expect(res.body.items.every((e) => e.owner === 'ben'), query).toBe(true);
    }
    expect((await ben.get(`/v1/executions?runId=${run.id}`)).body.items).toEqual([]);
    expect((await ben.get<Page<Execution>>('/v1/executions?owner=ann')).body.items.map((e) => e.name)).toEqual(['ben r', 'ben own']);
    for (const query of ['', '?owner=ann', '?status=RUNNING']) {
      const res = await ben.get<Page<RunView>>(`/v1/runs${query}`);
      expect(res.status).toBe(200);
      expect(res.body.items.map((r) => r.id)).not.toContain(run.id);
      expect(res.body.items.every((r) => r.owner === 'ben'), query).toBe(true);
    }
    // A cursor made from the other user's newest id pages through one's own items only.
    const annCursor = (await ann.get<Page<Execution>>('/v1/executions?limit=1')).body.next;
    const paged = await ben.get<Page<Execution>>(`/v1/executions?cursor=${annCursor!}`);
    expect(paged.status).toBe(200);
    for (const id of annIds) expect(paged.body.items.map((e) => e.id)).not.toContain(id);
  });
});
