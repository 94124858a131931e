import { describe, expect, it } from 'vitest';
import { item } from '../helpers/engine.js';
import {
  expectError,
  missingId,
  startTestServer,
  waitForStatus,
  type Client,
  type Execution,
  type Page,
  type StepView,
  type SubmittedRun,
  type TestServer,
  type TransitionView,
} from '../helpers/server.js';

/** Executions through the HTTP API: create, read, steps, events, commands, lists (SPEC §5, §7). */

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const ADMIN_ROLES = ['admin'] as const;

async function create(client: Client, body: unknown = item('t')): Promise<Execution> {
  const res = await client.post<Execution>('/v1/executions', body);
  expect(res.status, res.text).toBe(201);
  return res.body;
}

async function events(client: Client, id: string): Promise<TransitionView[]> {
  const res = await client.get<Page<TransitionView>>(`/v1/executions/${id}/events`);
  expect(res.status).toBe(200);
  return res.body.items;
}

/** Without a worker pool every dispatched execution stays RUNNING: commands meet a known status. */
async function noPoolServer(env: Record<string, string> = {}): Promise<TestServer> {
  return startTestServer({ EXECUTION_MAX_CONCURRENT_JOBS: '1000', ...env }, { pool: false });
}

describe('POST /v1/executions and GET /v1/executions/:id', () => {
  it('answers 201 with the SPEC §7 execution shape, and GET returns the same execution', async () => {
    await using s = await noPoolServer();
    const amy = await s.client('amy');
    const before = Date.now();
    const res = await amy.post('/v1/executions', {
      ...item('login works', [{ action: 'noop' }, { action: 'sleep', ms: 1 }]),
      priority: 'HIGH',
      context: 'CI_CD',
      labels: { suite: 'auth' },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const e = res.body as Execution;
    expect(e).toMatchObject({
      id: expect.stringMatching(/^exe_[0-9a-z]{26}$/),
      runId: null,
      name: 'login works',
      type: 'GENERIC',
      status: 'PENDING',
      priority: 'HIGH',
      context: 'CI_CD',
      attempt: 1,
      owner: 'amy',
      rerunOf: null,
      createdAt: expect.stringMatching(ISO),
      updatedAt: expect.stringMatching(ISO),
    });
    expect(Date.parse(e.createdAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(e.createdAt)).toBeLessThanOrEqual(Date.now() + 1000);

    const got = await amy.get(`/v1/executions/${e.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id: e.id, name: 'login works', type: 'GENERIC', priority: 'HIGH', context: 'CI_CD', owner: 'amy', createdAt: e.createdAt });
    expect(['PENDING', 'RUNNING']).toContain(got.body.status);
  });

  it('an execution with scheduledAt in the future starts SCHEDULED', async () => {
    await using s = await noPoolServer();
    const amy = await s.client('amy');
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const e = await create(amy, item('later', undefined, { scheduledAt: later }));
    expect(e.status).toBe('SCHEDULED');
    expect(e.scheduledAt).toBe(later);
    expect((await events(amy, e.id))[0]).toMatchObject({ seq: 1, from: null, to: 'SCHEDULED' });
  });

  it.each([
    ['no name', { type: 'GENERIC', steps: [{ action: 'noop' }] }, '/name'],
    ['an unknown type', { name: 'x', type: 'SHELL', steps: [{ action: 'noop' }] }, 'item 0 (x): unknown type "SHELL"; expected one of GENERIC, BDD, MANUAL'],
    ['no steps', { name: 'x', type: 'GENERIC', steps: [] }, 'step'],
    ['an unknown action', { name: 'x', type: 'GENERIC', steps: [{ action: 'teleport' }] }, 'item 0 (x): step 0: unknown action "teleport"; expected one of noop, sleep, http, exec'],
    ['a sleep without ms', { name: 'x', type: 'GENERIC', steps: [{ action: 'sleep' }] }, 'item 0 (x): step 0: /ms Expected required property'],
    ['a sleep whose ms is not a number', { name: 'x', type: 'GENERIC', steps: [{ action: 'sleep', ms: 'x' }] }, 'item 0 (x): step 0: /ms Expected integer'],
    ['an unknown field', { ...item('x'), colour: 'red' }, 'colour'],
    ['an unknown step field', { name: 'x', type: 'GENERIC', steps: [{ action: 'noop', extra: 1 }] }, 'item 0 (x): step 0: /extra Unexpected property'],
    ['a bad context', { ...item('x'), context: 'SOMEWHERE' }, 'execution context: unknown value "SOMEWHERE"; expected one of MANUAL, SCHEDULED, CI_CD, API, BULK'],
    ['a null context', { ...item('x'), context: null }, 'execution context: unknown value null; expected one of MANUAL'],
    ['a bad priority', { ...item('x'), priority: 'URGENT' }, 'item 0 (x): unknown priority "URGENT"; expected one of CRITICAL, HIGH, NORMAL, LOW, DEFERRED'],
    ['a bad retry policy', { ...item('x'), retry: { retryOn: ['FLAKY'] } }, 'item 0 (x): /retry/retryOn/0 unknown retryOn "FLAKY"; expected one of FAILED, ERROR, TIMEOUT'],
    ['a bad scheduledAt', { ...item('x'), scheduledAt: 'tomorrow' }, 'scheduledAt'],
    ['a body that is an array', [item('x')], 'name'],
    ['a body that is a string', 'x', '/'],
  ])('a definition with %s → 400 VALIDATION_FAILED naming the problem; nothing is stored', async (_what, body, mentions) => {
    await using s = await noPoolServer();
    const amy = await s.client('amy');
    const res = await amy.post('/v1/executions', body);
    expectError(res, 400, 'VALIDATION_FAILED');
    expect(`${res.body.error.message} ${JSON.stringify(res.body.error.details)}`).toContain(mentions);
    const list = await amy.get('/v1/executions');
    expect(list.body.items).toEqual([]);
  });

  it('a BDD feature that does not parse → 400 naming the item and the line; one that parses → 201', async () => {
    await using s = await noPoolServer();
    const amy = await s.client('amy');
    const bad = await amy.post('/v1/executions', { name: 'feature x', type: 'BDD', feature: 'Feature: x\n  Scenario: s\n    Given a\n  Oops here\n' });
    expectError(bad, 400, 'VALIDATION_FAILED');
    expect(bad.body.error.message).toMatch(/item 0 \(feature x\): the feature does not parse: line 4/);
    const empty = await amy.post('/v1/executions', { name: 'no scenario', type: 'BDD', feature: 'Feature: x' });
    expectError(empty, 400, 'VALIDATION_FAILED');
    const good = await amy.post('/v1/executions', { name: 'feature y', type: 'BDD', feature: 'Feature: y\n  Scenario: s\n    Given the base URL is "http://127.0.0.1:1"\n' });
    expect(good.status, good.text).toBe(201);
  });

  it('GET of an id that does not exist, or is not an id at all → 404 NOT_FOUND', async () => {
    await using s = await noPoolServer();
    const amy = await s.client('amy');
    for (const id of [missingId(), 'nope', missingId('run'), '%00', 'exe_' + 'z'.repeat(300)]) {
      for (const suffix of ['', '/steps', '/events']) {
        expectError(await amy.get(`/v1/executions/${id}${suffix}`), 404, 'NOT_FOUND');
      }
    }
  });

  it('an unknown query parameter on create, get, steps and events → 400', async () => {
    await using s = await noPoolServer();
    const amy = await s.client('amy');
    const e = await create(amy);
    expectError(await amy.post('/v1/executions?dryRun=true', item('q')), 400, 'VALIDATION_FAILED');
    for (const suffix of ['', '/steps', '/events']) {
      const res = await amy.get(`/v1/executions/${e.id}${suffix}?verbose=1`);
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(res.body.error.message).toContain('verbose');
    }
    expect((await amy.get('/v1/executions')).body.items).toHaveLength(1);
  });
});

describe('steps and events of a finished execution', () => {
  it('a PASSED execution has one step per definition step and events with seq 1, 2, 3… chaining from → to', async () => {
    await using s = await startTestServer();
    const amy = await s.client('amy');
    const e = await create(amy, item('two steps', [{ action: 'noop', name: 'first' }, { action: 'sleep', ms: 5, name: 'second' }]));
    await waitForStatus(amy, e.id, 'PASSED');

    const steps = await amy.get<Page<StepView>>(`/v1/executions/${e.id}/steps`);
    expect(steps.status).toBe(200);
    expect(steps.body.items).toHaveLength(2);
    expect(steps.body.items.map((st) => [st.index, st.name, st.status])).toEqual([
      [0, 'first', 'PASSED'],
      [1, 'second', 'PASSED'],
    ]);
    for (const st of steps.body.items) expect(st.durationMs).toBeGreaterThanOrEqual(0);

    const res = await amy.get<Page<TransitionView>>(`/v1/executions/${e.id}/events`);
    expect(res.status).toBe(200);
    expect(res.body.next).toBeNull();
    const items = res.body.items;
    expect(items.map((ev) => ev.seq)).toEqual(items.map((_, i) => i + 1));
    expect(items[0]).toMatchObject({ seq: 1, from: null, to: 'PENDING', attempt: 1 });
    for (let i = 1; i < items.length; i++) expect(items[i]!.from).toBe(items[i - 1]!.to);
    expect(items.map((ev) => ev.to)).toEqual(['PENDING', 'RUNNING', 'PASSED']);
    for (const ev of items) {
      expect(Object.keys(ev as object)).toEqual(expect.arrayContaining(['seq', 'from', 'to', 'event', 'at', 'attempt', 'reason', 'actor']));
      expect(ev.at).toMatch(ISO);
    }
  });
});

describe('GET /v1/executions/:id/events is a list (SPEC §5): limit, cursor, { items, next }', () => {
  /** An execution RUNNING without a pool, paused and resumed `cycles` times: 2 + 2 × cycles events. */
  async function longHistory(client: Client, cycles: number): Promise<string> {
    const e = await create(client);
    await waitForStatus(client, e.id, 'RUNNING');
    for (let i = 0; i < cycles; i++) {
      expect((await client.post(`/v1/executions/${e.id}/pause`)).status).toBe(200);
      expect((await client.post(`/v1/executions/${e.id}/resume`)).status).toBe(200);
    }
    return e.id;
  }

  async function walk(client: Client, id: string, limit: number): Promise<{ pages: TransitionView[][]; nexts: (string | null)[] }> {
    const pages: TransitionView[][] = [];
    const nexts: (string | null)[] = [];
    let cursor: string | null = null;
    do {
      const res: Awaited<ReturnType<typeof client.get<Page<TransitionView>>>> = await client.get<Page<TransitionView>>(
        `/v1/executions/${id}/events?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(res.status, res.text).toBe(200);
      pages.push(res.body.items);
      nexts.push(res.body.next);
      cursor = res.body.next;
    } while (cursor !== null && pages.length < 100);
    return { pages, nexts };
  }

  it('pages a long history by seq, oldest first: every event exactly once, next null on the last page', async () => {
    await using s = await noPoolServer();
    const amy = await s.client('amy');
    const id = await longHistory(amy, 30);
    const total = 62;

    const all = await amy.get<Page<TransitionView>>(`/v1/executions/${id}/events?limit=100`);
    expect(all.status, all.text).toBe(200);
    expect(all.body.items.map((ev) => ev.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(all.body.next).toBeNull();

    const { pages, nexts } = await walk(amy, id, 7);
    expect(pages.map((p) => p.length)).toEqual([7, 7, 7, 7, 7, 7, 7, 7, 6]);
    expect(pages.flat().map((ev) => ev.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(pages.flat()).toEqual(all.body.items);
    expect(nexts.slice(0, -1).every((n) => typeof n === 'string')).toBe(true);
    expect(nexts.at(-1)).toBeNull();

    // A last page that is exactly full says so: no empty page after it.
    const even = await walk(amy, id, 31);
    expect(even.pages.map((p) => p.length)).toEqual([31, 31]);
    expect(even.nexts).toEqual([expect.any(String), null]);

    // Without limit, the first 50 (the list default), and the rest after its cursor.
    const first = await amy.get<Page<TransitionView>>(`/v1/executions/${id}/events`);
    expect(first.body.items).toHaveLength(50);
    const rest = await amy.get<Page<TransitionView>>(`/v1/executions/${id}/events?cursor=${first.body.next}`);
    expect(rest.body.items.map((ev) => ev.seq)).toEqual(Array.from({ length: 12 }, (_, i) => 51 + i));
    expect(rest.body.next).toBeNull();
  });

  it('a bad limit or cursor, or a cursor of another list → 400 naming the parameter', async () => {
    await using s = await noPoolServer();
    const amy = await s.client('amy');
    const [a, b] = [await longHistory(amy, 2), await longHistory(amy, 2)];
    const cursorOfB = (await amy.get<Page<TransitionView>>(`/v1/executions/${b}/events?limit=1`)).body.next!;
    const cursorOfExecutions = (await amy.get<Page<Execution>>('/v1/executions?limit=1')).body.next!;
    expect(cursorOfB).toEqual(expect.any(String));
    expect(cursorOfExecutions).toEqual(expect.any(String));
    for (const [query, parameter] of [
      ['limit=0', 'limit'], ['limit=1001', 'limit'], ['limit=ten', 'limit'], ['limit=5&limit=6', 'limit'],
      ['cursor=nope', 'cursor'], [`cursor=${cursorOfB}`, 'cursor'], [`cursor=${cursorOfExecutions}`, 'cursor'], ['since=1', 'since'],
    ]) {
      const res = await amy.get(`/v1/executions/${a}/events?${query}`);
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(res.body.error.message, query).toContain(`query parameter ${parameter}`);
    }
    expect((await amy.get<Page<TransitionView>>(`/v1/executions/${a}/events?limit=1000`)).body.items).toHaveLength(6);
  });
});

describe('commands', () => {
  it('pause → PAUSED, resume → RUNNING, cancel → CANCELLED: each 200 with the execution, an event with who and why', async () => {
    await using s = await noPoolServer();
    const amy = await s.client('amy');
    const e = await create(amy);
    await waitForStatus(amy, e.id, 'RUNNING');

    const paused = await amy.post(`/v1/executions/${e.id}/pause`, { reason: 'looking at it' });
    expect(paused.status, paused.text).toBe(200);
    expect(paused.body).toMatchObject({ id: e.id, status: 'PAUSED' });
    const resumed = await amy.post(`/v1/executions/${e.id}/resume`);
    expect(resumed.status, resumed.text).toBe(200);
    expect(resumed.body.status).toBe('RUNNING');
    const cancelled = await amy.post(`/v1/executions/${e.id}/cancel`, {});
    expect(cancelled.status, cancelled.text).toBe(200);
    expect(cancelled.body.status).toBe('CANCELLED');

    const evs = await events(amy, e.id);
    expect(evs.slice(-3).map((ev) => [ev.from, ev.to, ev.event, ev.actor])).toEqual([
      ['RUNNING', 'PAUSED', 'PAUSE', 'user:amy'],
      ['PAUSED', 'RUNNING', 'RESUME', 'user:amy'],
      ['RUNNING', 'CANCELLED', 'CANCEL', 'user:amy'],
    ]);
    expect(evs.at(-3)!.reason).toBe('looking at it');
    expect(evs.map((ev) => ev.seq)).toEqual(evs.map((_, i) => i + 1));
  });

  it('abort: 403 for a runner; an admin aborts → ABORTED', async () => {
    await using s = await noPoolServer();
    const amy = await s.client('amy');
    const root = await s.client('root', ADMIN_ROLES);
    const e = await create(amy);
    await waitForStatus(amy, e.id, 'RUNNING');
    expectError(await amy.post(`/v1/executions/${e.id}/abort`), 403, 'FORBIDDEN');
    expect((await amy.get(`/v1/executions/${e.id}`)).body.status).toBe('RUNNING');
    const aborted = await root.post(`/v1/executions/${e.id}/abort`, { reason: 'stuck' });
    expect(aborted.status, aborted.text).toBe(200);
    expect(aborted.body.status).toBe('ABORTED');
    expect((await events(amy, e.id)).at(-1)).toMatchObject({ from: 'RUNNING', to: 'ABORTED', event: 'ABORT', reason: 'stuck', actor: 'user:root' });
  });

  it('retry of a finished execution → 201 a new execution with rerunOf; retry of an unfinished one → 409', async () => {
    await using s = await noPoolServer();
    const amy = await s.client('amy');
    const e = await create(amy, { ...item('flaky'), context: 'MANUAL' });
    await waitForStatus(amy, e.id, 'RUNNING');
    const early = await amy.post(`/v1/executions/${e.id}/retry`);
    expectError(early, 409, 'ILLEGAL_TRANSITION');
    expect(early.body.error.details.status).toBe('RUNNING');

    await amy.post(`/v1/executions/${e.id}/cancel`);
    const rerun = await amy.post(`/v1/executions/${e.id}/retry`);
    expect(rerun.status, rerun.text).toBe(201);
    expect(rerun.body).toMatchObject({ name: 'flaky', type: 'GENERIC', owner: 'amy', context: 'MANUAL', rerunOf: e.id, attempt: 1 });
    expect(rerun.body.id).not.toBe(e.id);
    expect(['PENDING', 'RUNNING']).toContain(rerun.body.status);
    // The original is untouched: still CANCELLED.
    expect((await amy.get(`/v1/executions/${e.id}`)).body.status).toBe('CANCELLED');
    expect((await amy.get(`/v1/executions/${rerun.body.id}`)).body.rerunOf).toBe(e.id);
  });

  it('resume of a PASSED execution → 409 naming PASSED; its events are unchanged', async () => {
    await using s = await startTestServer();
    const amy = await s.client('amy');
    const e = await create(amy);
    await waitForStatus(amy, e.id, 'PASSED');
    const before = await events(amy, e.id);
    for (const command of ['resume', 'pause', 'cancel']) {
      const res = await amy.post(`/v1/executions/${e.id}/${command}`);
      expectError(res, 409, 'ILLEGAL_TRANSITION');
      expect(res.body.error.message).toContain('PASSED');
      expect(res.body.error.details).toMatchObject({ status: 'PASSED' });
    }
    expect(await events(amy, e.id)).toEqual(before);
    expect((await amy.get(`/v1/executions/${e.id}`)).body.status).toBe('PASSED');
  });

  it('illegal commands on a RUNNING and a CANCELLED execution → 409 naming the status; nothing changes', async () => {
    await using s = await noPoolServer();
    const amy = await s.client('amy');
    const e = await create(amy);
    await waitForStatus(amy, e.id, 'RUNNING');
    const resume = await amy.post(`/v1/executions/${e.id}/resume`);
    expectError(resume, 409, 'ILLEGAL_TRANSITION');
    expect(resume.body.error.details.status).toBe('RUNNING');
    await amy.post(`/v1/executions/${e.id}/cancel`);
    const before = await events(amy, e.id);
    for (const command of ['cancel', 'pause', 'resume']) {
      const res = await amy.post(`/v1/executions/${e.id}/${command}`);
      expectError(res, 409, 'ILLEGAL_TRANSITION');
      expect(res.body.error.details.status).toBe('CANCELLED');
    }
    expect(await events(amy, e.id)).toEqual(before);
  });

  it('an unknown command, a missing id, and bad command bodies → 404 / 400 / 415; nothing changes', async () => {
    await using s = await noPoolServer();
    const amy = await s.client('amy');
    const e = await create(amy);
    await waitForStatus(amy, e.id, 'RUNNING');
    const before = await events(amy, e.id);
    expectError(await amy.post(`/v1/executions/${e.id}/explode`), 404, 'NOT_FOUND');
    for (const command of ['cancel', 'pause', 'resume', 'retry']) {
      expectError(await amy.post(`/v1/executions/${missingId()}/${command}`), 404, 'NOT_FOUND');
    }
    expectError(await amy.post(`/v1/executions/${e.id}/pause`, { reason: 'x', force: true }), 400, 'VALIDATION_FAILED');
    expectError(await amy.post(`/v1/executions/${e.id}/pause`, { reason: 42 }), 400, 'VALIDATION_FAILED');
    expectError(await amy.post(`/v1/executions/${e.id}/pause`, { reason: 'r'.repeat(1001) }), 400, 'VALIDATION_FAILED');
    expectError(await amy.post(`/v1/executions/${e.id}/pause`, 'stop'), 400, 'VALIDATION_FAILED');
    expectError(await amy.post(`/v1/executions/${e.id}/pause`, undefined, { raw: '{"reason":', headers: { 'content-type': 'application/json' } }), 400, 'MALFORMED_JSON');
    expectError(await amy.post(`/v1/executions/${e.id}/pause`, undefined, { raw: 'reason=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await amy.post(`/v1/executions/${e.id}/pause?now=1`), 400, 'VALIDATION_FAILED');
    expect(await events(amy, e.id)).toEqual(before);
  });
});

describe('names that are also Object.prototype members', () => {
  const PROTO = ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'];

  it.each(PROTO)('POST /v1/executions/:id/%s → 404 like any unknown command; the execution stays controllable', async (name) => {
    await using s = await noPoolServer();
    const amy = await s.client('amy');
    const e = await create(amy);
    await waitForStatus(amy, e.id, 'RUNNING');
    const res = await amy.post(`/v1/executions/${e.id}/${name}`);
    expectError(res, 404, 'NOT_FOUND');
    const paused = await amy.post(`/v1/executions/${e.id}/pause`);
    expect(paused.status, paused.text).toBe(200);
    const cancelled = await amy.post(`/v1/executions/${e.id}/cancel`);
    expect(cancelled.status, cancelled.text).toBe(200);
    expect((await events(amy, e.id)).map((ev) => ev.to)).toEqual(['PENDING', 'RUNNING', 'PAUSED', 'CANCELLED']);
  });

  it.each(PROTO)('a query parameter named %s → 400 on every endpoint', async (name) => {
    await using s = await noPoolServer();
    const amy = await s.client('amy');
    const root = await s.client('root', ADMIN_ROLES);
    const e = await create(amy);
    const run = (await amy.post('/v1/runs', { items: [item('r')] })).body;
    const gets = [
      '/v1/executions', `/v1/executions/${e.id}`, `/v1/executions/${e.id}/steps`, `/v1/executions/${e.id}/events`,
      '/v1/runs', `/v1/runs/${run.id}`, `/v1/runs/${run.id}/executions`,
    ];
    for (const path of gets) expectError(await amy.get(`${path}?${name}=1`), 400, 'VALIDATION_FAILED');
    for (const path of ['/v1/audit', '/v1/keys']) expectError(await root.get(`${path}?${name}=1`), 400, 'VALIDATION_FAILED');
    expectError(await amy.post(`/v1/executions?${name}=1`, item('q')), 400, 'VALIDATION_FAILED');
    expectError(await amy.post(`/v1/runs?${name}=1`, { items: [item('q')] }), 400, 'VALIDATION_FAILED');
    expectError(await amy.post(`/v1/executions/${e.id}/pause?${name}=1`), 400, 'VALIDATION_FAILED');
  });
});

describe('GET /v1/executions', () => {
  it('cursor pagination walks newest first and covers every item exactly once', async () => {
    await using s = await noPoolServer();
    const pia = await s.client('pia');
    const created: string[] = [];
    for (let i = 0; i < 11; i++) created.push((await create(pia, item(`p${i}`))).id);
    for (const limit of [1, 3, 4, 11, 1000]) {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: { status: number; text: string; body: Page<Execution> } = await pia.get(`/v1/executions?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        expect(res.status, res.text).toBe(200);
        expect(res.body.items.length).toBeLessThanOrEqual(limit);
        seen.push(...res.body.items.map((x) => x.id));
        cursor = res.body.next;
        pages++;
      } while (cursor !== null && pages < 50);
      expect(seen, `limit ${limit}`).toEqual([...created].reverse());
      expect(pages).toBe(Math.max(1, Math.ceil(11 / limit)));
    }
  });

  it('filters by status, priority, context and runId', async () => {
    await using s = await noPoolServer();
    const fay = await s.client('fay');
    const high = await create(fay, { ...item('high'), priority: 'HIGH' });
    const ci = await create(fay, { ...item('ci'), context: 'CI_CD' });
    const plain = await create(fay, item('plain'));
    const run = await fay.post<SubmittedRun>('/v1/runs', { items: [item('r1'), item('r2')] });
    expect(run.status).toBe(201);
    for (const id of [high.id, ci.id, plain.id, ...run.body.executionIds]) await waitForStatus(fay, id, 'RUNNING');
    await fay.post(`/v1/executions/${plain.id}/cancel`);

    const ids = async (query: string) => {
      const res = await fay.get<Page<Execution>>(`/v1/executions?${query}`);
      expect(res.status, `${query}: ${res.text}`).toBe(200);
      return res.body.items.map((x) => x.id).sort();
    };
    expect(await ids('status=CANCELLED')).toEqual([plain.id]);
    expect(await ids('status=RUNNING')).toEqual([high.id, ci.id, ...run.body.executionIds].sort());
    expect(await ids('status=PASSED')).toEqual([]);
    expect(await ids('priority=HIGH')).toEqual([high.id]);
    expect(await ids('context=CI_CD')).toEqual([ci.id]);
    expect(await ids(`runId=${run.body.id}`)).toEqual([...run.body.executionIds].sort());
    expect(await ids(`runId=${run.body.id}&status=CANCELLED`)).toEqual([]);
    expect(await ids('priority=HIGH&context=CI_CD')).toEqual([]);
    expect(await ids(`runId=${missingId('run')}`)).toEqual([]);
  });

  it('createdAfter and createdBefore are exclusive bounds on createdAt', async () => {
    await using s = await noPoolServer();
    const tim = await s.client('tim');
    const all: Execution[] = [];
    for (let i = 0; i < 6; i++) {
      all.push(await create(tim, item(`t${i}`)));
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    const at = (e: Execution) => Date.parse(e.createdAt);
    const ids = async (query: string) => (await tim.get<Page<Execution>>(`/v1/executions?${query}`)).body.items.map((x) => x.id).sort();
    const pivot = all[2]!.createdAt;
    expect(await ids(`createdAfter=${pivot}`)).toEqual(all.filter((e) => at(e) > Date.parse(pivot)).map((e) => e.id).sort());
    expect(await ids(`createdBefore=${pivot}`)).toEqual(all.filter((e) => at(e) < Date.parse(pivot)).map((e) => e.id).sort());
    const from = all[1]!.createdAt;
    const to = all[4]!.createdAt;
    expect(await ids(`createdAfter=${from}&createdBefore=${to}`)).toEqual(
      all.filter((e) => at(e) > Date.parse(from) && at(e) < Date.parse(to)).map((e) => e.id).sort(),
    );
    // An offset time zone names the same instant.
    const offset = new Date(Date.parse(pivot) + 2 * 3_600_000).toISOString().replace('Z', '+02:00');
    expect(await ids(`createdAfter=${encodeURIComponent(offset)}`)).toEqual(await ids(`createdAfter=${pivot}`));
    expect(await ids('createdAfter=2999-01-01T00:00:00Z')).toEqual([]);
    expect(await ids('createdBefore=2000-01-01T00:00:00Z')).toEqual([]);
  });

  it.each(['limit=0', 'limit=1001', 'limit=-1', 'limit=1.5', 'limit=ten', 'limit=', 'limit=99999', 'limit=1&limit=2'])(
    '%s → 400', async (query) => {
      await using s = await noPoolServer();
      const amy = await s.client('amy');
      const res = await amy.get(`/v1/executions?${query}`);
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(res.body.error.message).toContain('limit');
    },
  );

  it('limit 1 and limit 1000 are accepted', async () => {
    await using s = await noPoolServer();
    const amy = await s.client('amy');
    await create(amy);
    await create(amy);
    expect((await amy.get('/v1/executions?limit=1')).body.items).toHaveLength(1);
    expect((await amy.get('/v1/executions?limit=1000')).body.items).toHaveLength(2);
  });

  it.each([
    'status=DONE', 'priority=URGENT', 'context=ELSEWHERE', 'runId=has%20space', 'createdAfter=yesterday',
    'createdAfter=2024-01-01', 'createdBefore=2024-13-45T00:00:00Z', 'sort=asc', 'STATUS=PASSED', 'owner=', 'owner=a%00b',
  ])('bad or unknown query %s → 400 naming the parameter', async (query) => {
    await using s = await noPoolServer();
    const amy = await s.client('amy');
    const res = await amy.get(`/v1/executions?${query}`);
    expectError(res, 400, 'VALIDATION_FAILED');
    expect(res.body.error.message).toContain(decodeURIComponent(query.split('=')[0]!));
  });

  it('a garbage cursor → 400', async () => {
    await using s = await noPoolServer();
    const amy = await s.client('amy');
    for (const cursor of ['garbage', 'AAAA', Buffer.from('exe_short').toString('base64url'), Buffer.from('../../etc').toString('base64url'), '%FF%FE']) {
      expectError(await amy.get(`/v1/executions?cursor=${cursor}`), 400, 'VALIDATION_FAILED');
    }
  });

  it("a foreign cursor (one GET /v1/runs returned) on GET /v1/executions → 400, and an executions cursor on GET /v1/runs → 400", async () => {
    await using s = await noPoolServer();
    const amy = await s.client('amy');
    for (let i = 0; i < 3; i++) {
      await create(amy);
      expect((await amy.post('/v1/runs', { items: [item(`r${i}`)] })).status).toBe(201);
    }
    const runsCursor = (await amy.get<Page<unknown>>('/v1/runs?limit=1')).body.next;
    const executionsCursor = (await amy.get<Page<unknown>>('/v1/executions?limit=1')).body.next;
    expect(runsCursor).toEqual(expect.any(String));
    expect(executionsCursor).toEqual(expect.any(String));
    expectError(await amy.get(`/v1/executions?cursor=${runsCursor!}`), 400, 'VALIDATION_FAILED');
    expectError(await amy.get(`/v1/runs?cursor=${executionsCursor!}`), 400, 'VALIDATION_FAILED');
  });

  it('an admin lists everyone’s executions and may filter by owner; others only ever see their own', async () => {
    await using s = await noPoolServer();
    const amy = await s.client('amy');
    const bob = await s.client('bob');
    const root = await s.client('root', ADMIN_ROLES);
    const a = await create(amy);
    const b = await create(bob);
    const list = async (c: Client, query = '') => (await c.get<Page<Execution>>(`/v1/executions${query}`)).body.items.map((x) => x.id);
    const all = await list(root);
    expect(all.sort()).toEqual([a.id, b.id].sort());
    expect(await list(root, '?owner=bob')).toEqual([b.id]);
    expect(await list(amy, '?owner=bob')).toEqual([a.id]);
    // A principal id is any text a JWT's sub may hold.
    const odd = await s.client('auth0|carol+qa@example.com');
    const c = await create(odd);
    expect(await list(root, `?owner=${encodeURIComponent('auth0|carol+qa@example.com')}`)).toEqual([c.id]);
    expect(await list(odd, `?owner=${encodeURIComponent('auth0|carol+qa@example.com')}`)).toEqual([c.id]);
  });
});

describe('queue limits', () => {
  it('a submit beyond QUEUE_MAX_QUEUE_SIZE → 429 QUEUE_FULL and nothing is stored; room again once one leaves', async () => {
    await using s = await startTestServer({ QUEUE_MAX_QUEUE_SIZE: '2', EXECUTION_MAX_CONCURRENT_JOBS: '1' }, { pool: false });
    const amy = await s.client('amy');
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const first = await create(amy, item('a', undefined, { scheduledAt: later }));
    await create(amy, item('b', undefined, { scheduledAt: later }));
    const full = await amy.post('/v1/executions', item('c'));
    expectError(full, 429, 'QUEUE_FULL');
    expectError(await amy.post('/v1/runs', { items: [item('d')] }), 429, 'QUEUE_FULL');
    const listed = (await amy.get<Page<Execution>>('/v1/executions')).body.items;
    expect(listed.map((x) => x.name).sort()).toEqual(['a', 'b']);
    expect((await amy.get('/v1/runs')).body.items).toEqual([]);
    expect((await amy.post(`/v1/executions/${first.id}/cancel`)).status).toBe(200);
    expect((await amy.post('/v1/executions', item('c'))).status).toBe(201);
  });
});
