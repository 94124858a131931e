import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { STATUSES } from '../../src/core/statuses.js';
import { item } from '../helpers/engine.js';
import { expectError, missingId, startTestServer, waitForStatus, type AuditView, type Body, type KeyView, type Page, type SubmittedRun } from '../helpers/server.js';

/** Admin endpoints (audit, API keys) and what lives outside /v1: health, readiness, metrics, OpenAPI, 404s. */

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Prometheus text → `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

describe('GET /v1/audit', () => {
  it('records every command with who, what, when and where from; admin only', async () => {
    await using s = await startTestServer({ EXECUTION_MAX_CONCURRENT_JOBS: '1000' }, { pool: false });
    const rex = await s.client('rex', ['runner']);
    const ada = await s.client('ada', ['admin']);
    const started = Date.now();
    const a = (await rex.post('/v1/executions', item('a'))).body.id as string;
    const b = (await rex.post('/v1/executions', item('b'))).body.id as string;
    const run = (await rex.post<SubmittedRun>('/v1/runs', { items: [item('r')] })).body;
    for (const id of [a, b, ...run.executionIds]) await waitForStatus(rex, id, 'RUNNING');
    expect((await rex.post(`/v1/executions/${a}/pause`, { reason: 'look' })).status).toBe(200);
    expect((await rex.post(`/v1/executions/${a}/resume`)).status).toBe(200);
    expect((await rex.post(`/v1/executions/${a}/cancel`, { reason: 'enough' })).status).toBe(200);
    const rerun = (await rex.post(`/v1/executions/${a}/retry`)).body.id as string;
    expect((await ada.post(`/v1/executions/${b}/abort`, { reason: 'stuck' })).status).toBe(200);
    expect((await rex.post(`/v1/runs/${run.id}/cancel`)).status).toBe(202);
    // Rejected commands change nothing, so there is nothing to audit.
    expect((await rex.post(`/v1/executions/${a}/pause`)).status).toBe(409);

    expectError(await rex.get('/v1/audit'), 403, 'FORBIDDEN');
    const res = await ada.get<Page<AuditView>>('/v1/audit');
    expect(res.status).toBe(200);
    const items = res.body.items;
    const entries = items.map((e) => [e.principal, e.action, e.target]).reverse();
    expect(entries).toEqual([
      ['rex', 'PAUSE', a],
      ['rex', 'RESUME', a],
      ['rex', 'CANCEL', a],
      ['rex', 'RETRY', a],
      ['ada', 'ABORT', b],
      ['rex', 'CANCEL_RUN', run.id],
    ]);
    for (const e of items) {
      expect(e.at).toMatch(ISO);
      expect(Date.parse(e.at)).toBeGreaterThanOrEqual(started - 1000);
      expect(Date.parse(e.at)).toBeLessThanOrEqual(Date.now() + 1000);
      expect(e.source).toContain('127.0.0.1');
    }
    const byAction = new Map(items.map((e) => [e.action, e]));
    expect(byAction.get('PAUSE')?.details).toEqual({ reason: 'look' });
    expect(byAction.get('CANCEL')?.details).toEqual({ reason: 'enough' });
    expect(byAction.get('ABORT')?.details).toEqual({ reason: 'stuck' });
    expect(byAction.get('RETRY')?.details).toEqual({ rerun });
    // Newest first, and limit bounds it.
    expect((await ada.get<Page<AuditView>>('/v1/audit?limit=2')).body.items.map((e) => e.action)).toEqual(['CANCEL_RUN', 'ABORT']);
    expectError(await ada.get('/v1/audit?limit=0'), 400, 'VALIDATION_FAILED');
    expectError(await ada.get('/v1/audit?limit=1001'), 400, 'VALIDATION_FAILED');
    expectError(await ada.get('/v1/audit?principal=rex'), 400, 'VALIDATION_FAILED');
  });
});

describe('/v1/keys', () => {
  it('an admin creates a key that works with its role and owner, lists keys without secrets, revokes it → 401', async () => {
    await using s = await startTestServer({ EXECUTION_MAX_CONCURRENT_JOBS: '1000' }, { pool: false });
    const ada = await s.client('ada', ['admin']);
    const created = await ada.post('/v1/keys', { name: 'ci pipeline', role: 'runner', owner: 'ci-bot' });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({ id: expect.stringMatching(/^key_/), name: 'ci pipeline', role: 'runner', owner: 'ci-bot' });
    const secret = created.body.key as string;
    expect(secret).toMatch(/^troupe_[\w-]{20,}$/);

    const bot = s.clientFor(secret);
    const e = await bot.post('/v1/executions', item('from ci'));
    expect(e.status, e.text).toBe(201);
    expect(e.body.owner).toBe('ci-bot');
    expect((await bot.get(`/v1/executions/${e.body.id}`)).status).toBe(200);
    expectError(await bot.get('/v1/audit'), 403, 'FORBIDDEN');
    expectError(await bot.post(`/v1/executions/${e.body.id}/abort`), 403, 'FORBIDDEN');

    const own = await ada.post('/v1/keys', { name: 'my viewer', role: 'viewer' });
    expect(own.body.owner).toBe('ada');
    const viewer = s.clientFor(own.body.key as string);
    expectError(await viewer.post('/v1/executions', item('x')), 403, 'FORBIDDEN');
    expect((await viewer.get('/v1/executions')).status).toBe(200);

    const list = await ada.get<Page<KeyView>>('/v1/keys');
    expect(list.status).toBe(200);
    expect(list.text).not.toContain(secret);
    expect(list.text).not.toContain(own.body.key as string);
    const listed = list.body.items;
    expect(listed.map((k) => k.id).sort()).toEqual([created.body.id, own.body.id].sort());
    for (const k of listed) {
      expect(k).not.toHaveProperty('hash');
      expect(k).not.toHaveProperty('key');
      expect(k.createdAt).toMatch(ISO);
      expect(k.revokedAt).toBeNull();
    }

    const revoked = await ada.del(`/v1/keys/${created.body.id}`);
    expect(revoked.status, revoked.text).toBe(200);
    expect(revoked.body).toEqual({ id: created.body.id, revoked: true });
    expectError(await bot.get('/v1/executions'), 401, 'UNAUTHENTICATED');
    expectError(await bot.post('/v1/executions', item('after')), 401, 'UNAUTHENTICATED');
    expect((await ada.get<Page<KeyView>>('/v1/keys')).body.items.find((k) => k.id === created.body.id)?.revokedAt).toMatch(ISO);
    expectError(await ada.del(`/v1/keys/${created.body.id}`), 404, 'NOT_FOUND');
    expectError(await ada.del(`/v1/keys/${missingId('key')}`), 404, 'NOT_FOUND');
    expect((await viewer.get('/v1/executions')).status).toBe(200);

    const actions = (await ada.get<Page<AuditView>>('/v1/audit')).body.items.map((a) => [a.action, a.target]);
    expect(actions).toEqual([
      ['REVOKE_KEY', created.body.id],
      ['CREATE_KEY', own.body.id],
      ['CREATE_KEY', created.body.id],
    ]);
  });

  it('an admin API key is an admin', async () => {
    await using s = await startTestServer({}, { pool: false });
    const ada = await s.client('ada', ['admin']);
    const key = s.clientFor((await ada.post('/v1/keys', { name: 'ops', role: 'admin' })).body.key as string);
    expect((await key.get('/v1/audit')).status).toBe(200);
    expect((await key.post('/v1/keys', { name: 'another', role: 'viewer' })).status).toBe(201);
  });

  it.each([
    [{ role: 'runner' }],
    [{ name: '', role: 'runner' }],
    [{ name: 'k', role: 'root' }],
    [{ name: 'k' }],
    [{ name: 'k', role: 'runner', owner: 'has spaces' }],
    [{ name: 'k', role: 'runner', owner: '' }],
    [{ name: 'k'.repeat(201), role: 'runner' }],
    [{ name: 7, role: 'runner' }],
    [['k', 'runner']],
    [null],
  ])('POST /v1/keys with %j → 400, no key created', async (body) => {
    await using s = await startTestServer({}, { pool: false });
    const ada = await s.client('ada', ['admin']);
    expectError(await ada.post('/v1/keys', body), 400, 'VALIDATION_FAILED');
    expect((await ada.get('/v1/keys')).body.items).toEqual([]);
  });

  it('non-admins cannot create, list or revoke keys (403), and nothing changes', async () => {
    await using s = await startTestServer({}, { pool: false });
    const ada = await s.client('ada', ['admin']);
    const id = (await ada.post('/v1/keys', { name: 'k', role: 'viewer' })).body.id as string;
    for (const roles of [['runner'], ['viewer'], ['viewer', 'runner']] as const) {
      const c = await s.client('mal', roles);
      expectError(await c.post('/v1/keys', { name: 'mine', role: 'admin' }), 403, 'FORBIDDEN');
      expectError(await c.get('/v1/keys'), 403, 'FORBIDDEN');
      expectError(await c.del(`/v1/keys/${id}`), 403, 'FORBIDDEN');
    }
    const keys = (await ada.get<Page<KeyView>>('/v1/keys')).body.items;
    expect(keys.map((k) => [k.id, k.revokedAt])).toEqual([[id, null]]);
  });
});

describe('outside /v1', () => {
  it('/healthz and /readyz answer without credentials', async () => {
    await using s = await startTestServer({}, { pool: false });
    const health = await s.request('GET', '/healthz');
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok' });
    const ready = await s.request('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', store: 'sqlite', bus: expect.any(String) });
  });

  it('/readyz → 503 when the store cannot be reached', async () => {
    await using s = await startTestServer({}, { pool: false });
    await s.engine.store.close();
    const ready = await s.request('GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: 'not ready' });
    expect((await s.request('GET', '/healthz')).status).toBe(200);
  });

  it('/metrics exposes request durations, queue depth, live executions and transitions in Prometheus text', async () => {
    await using s = await startTestServer({ EXECUTION_MAX_CONCURRENT_JOBS: '1' }, { pool: false });
    const rex = await s.client('rex');
    const ids: string[] = [];
    for (const priority of ['NORMAL', 'NORMAL', 'HIGH', 'LOW']) ids.push((await rex.post('/v1/executions', { ...item(priority), priority })).body.id as string);
    await waitForStatus(rex, ids[0]!, 'RUNNING');
    expectError(await rex.get('/v1/executions?limit=0'), 400);

    const res = await s.request('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    for (const name of ['troupe_http_request_duration_seconds', 'troupe_queue_depth', 'troupe_executions', 'troupe_transitions_total']) {
      expect(res.text).toMatch(new RegExp(`^# TYPE ${name} (histogram|gauge|counter)$`, 'm'));
    }
    const m = samples(res.text);
    expect(m.get('troupe_http_request_duration_seconds_count{route="/v1/executions",method="POST",status="201"}')).toBe(4);
    expect(m.get('troupe_http_request_duration_seconds_count{route="/v1/executions",method="GET",status="400"}')).toBe(1);
    expect(m.get('troupe_queue_depth{priority="NORMAL"}')).toBe(1);
    expect(m.get('troupe_queue_depth{priority="HIGH"}')).toBe(1);
    expect(m.get('troupe_queue_depth{priority="LOW"}')).toBe(1);
    expect(m.get('troupe_queue_depth{priority="CRITICAL"}')).toBe(0);
    expect(m.get('troupe_executions{status="RUNNING"}')).toBe(1);
    expect(m.get('troupe_executions{status="PENDING"}')).toBe(3);
    expect(m.get('troupe_transitions_total{to="PENDING"}')).toBe(4);
    expect(m.get('troupe_transitions_total{to="RUNNING"}')).toBe(1);

    await rex.post(`/v1/executions/${ids[0]!}/cancel`);
    await waitForStatus(rex, ids[2]!, 'RUNNING');
    const after = samples((await s.request('GET', '/metrics')).text);
    expect(after.get('troupe_transitions_total{to="CANCELLED"}')).toBe(1);
    expect(after.get('troupe_executions{status="PENDING"}')).toBe(2);
    expect(after.get('troupe_queue_depth{priority="HIGH"}')).toBe(0);
  });

  it('/metrics is absent when METRICS_ENABLED=false', async () => {
    await using s = await startTestServer({ METRICS_ENABLED: 'false' }, { pool: false });
    expectError(await s.request('GET', '/metrics'), 404, 'NOT_FOUND');
  });

  it('/openapi.json is an OpenAPI 3.1 document describing every /v1 route', async () => {
    await using s = await startTestServer({}, { pool: false });
    const res = await s.request('GET', '/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toBe('3.1.0');
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    expect(doc.info).toMatchObject({ title: expect.any(String), version: pkg.version });
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    const routes: [string, string][] = [
      ['/v1/executions', 'post'], ['/v1/executions', 'get'], ['/v1/executions/{id}', 'get'],
      ['/v1/executions/{id}/steps', 'get'], ['/v1/executions/{id}/events', 'get'],
      ...['cancel', 'pause', 'resume', 'abort', 'retry'].map((c): [string, string] => [`/v1/executions/{id}/${c}`, 'post']),
      ['/v1/runs', 'post'], ['/v1/runs', 'get'], ['/v1/runs/{id}', 'get'], ['/v1/runs/{id}/executions', 'get'],
      ['/v1/runs/{id}/cancel', 'post'], ['/v1/audit', 'get'], ['/v1/keys', 'post'], ['/v1/keys', 'get'], ['/v1/keys/{id}', 'delete'],
      ['/v1/agents', 'get'], ['/v1/dead-letters', 'get'], ['/v1/dead-letters/{jobId}', 'delete'], ['/v1/dead-letters/{jobId}/redrive', 'post'],
      ['/healthz', 'get'], ['/readyz', 'get'], ['/metrics', 'get'],
    ];
    for (const [path, method] of routes) {
      const op = doc.paths[path]?.[method];
      expect(op, `${method.toUpperCase()} ${path}`).toBeDefined();
      expect(Object.keys(op.responses as object).length, `${method} ${path}`).toBeGreaterThan(0);
      if (path.includes('{id}')) expect((op.parameters as Body[]).some((p) => p.name === 'id' && p.in === 'path')).toBe(true);
    }
    const create = doc.paths['/v1/executions'].post;
    expect(create.responses['201']).toBeDefined();
    expect(create.responses['400'].content['application/json'].schema.properties.error.properties).toHaveProperty('code');
    const itemSchema = create.requestBody.content['application/json'].schema;
    expect(itemSchema.additionalProperties).toBe(false);
    expect(itemSchema.properties).toHaveProperty('name');
    expect(itemSchema.properties).toHaveProperty('context');
    const status = (doc.paths['/v1/executions'].get.parameters as Body[]).find((p) => p.name === 'status');
    expect(status.schema.enum).toEqual([...STATUSES]);
    const limit = (doc.paths['/v1/executions'].get.parameters as Body[]).find((p) => p.name === 'limit');
    expect(limit.schema).toMatchObject({ minimum: 1, maximum: 1000 });
    expect(doc.paths['/v1/runs'].post.requestBody.content['application/json'].schema.properties).toHaveProperty('idempotencyKey');
  });

  it.each([
    // `/` is the dashboard (test/http/api.dashboard.test.ts).
    ['GET', '/assets'],
    ['GET', '/v1'],
    ['GET', '/v1/nothing'],
    ['GET', '/v2/executions'],
    ['POST', '/v1/executions/x/y/z'],
    ['PUT', '/v1/executions'],
    ['PATCH', '/v1/runs/x'],
    ['DELETE', '/v1/executions/x'],
    ['GET', '/v1/executions/x/steps/0'],
    ['GET', '/openapi.yaml'],
  ])('%s %s → 404 NOT_FOUND in the error shape, with or without credentials', async (method, path) => {
    await using s = await startTestServer({}, { pool: false });
    const token = await s.token('amy');
    for (const t of [undefined, token]) {
      const res = await s.request(method, path, { token: t ?? null });
      expectError(res, 404, 'NOT_FOUND');
      expect(res.body.error.message).toContain(path);
    }
  });
});
