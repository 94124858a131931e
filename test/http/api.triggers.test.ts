import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOOK_ENV, seedSuite } from '../helpers/hooks.js';
import { expectError, startTestServer, type Client, type Page, type TestServer } from '../helpers/server.js';

type Listed = { id: string; owner: string };

/** Triggers CRUD (SPEC §8) over the real server: validation, ownership, secrets never shown, audit. */
describe('triggers', () => {
  let s: TestServer;
  let alice: Client;
  let bob: Client;
  let viewer: Client;
  let admin: Client;
  let suiteId: string;
  const body = (over: Record<string, unknown> = {}) => ({
    name: 'shop CI',
    source: 'github',
    repository: 'acme/shop',
    events: ['push', 'pull_request'],
    branches: ['main', 'release/*'],
    suiteId,
    ...over,
  });

  beforeAll(async () => {
    s = await startTestServer(HOOK_ENV, { pool: false });
    [alice, bob, viewer, admin] = await Promise.all([
      s.client('alice'),
      s.client('bob'),
      s.client('vera', ['viewer']),
      s.client('root', ['admin']),
    ]);
    suiteId = await seedSuite(alice);
  });
  afterAll(async () => {
    await s[Symbol.asyncDispose]();
  });

  it('creates a trigger (201) that shows the notify URL but never its secret, and reads it back', async () => {
    const created = await alice.post('/v1/triggers', body({ notify: { url: 'https://ci.example.test/hook', secret: 'notify-secret-0123456789' } }));
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.stringMatching(/^trg_/),
      owner: 'alice',
      name: 'shop CI',
      source: 'github',
      repository: 'acme/shop',
      events: ['push', 'pull_request'],
      branches: ['main', 'release/*'],
      suiteId,
      notify: { url: 'https://ci.example.test/hook' },
      createdAt: expect.any(String),
    });
    expect(created.text).not.toContain('notify-secret');
    const read = await alice.get(`/v1/triggers/${created.body.id}`);
    expect(read.body).toEqual(created.body);
    expect(read.text).not.toContain('notify-secret');
    const plain = await alice.post('/v1/triggers', body({ branches: undefined, source: 'gitlab', events: ['merge_request'] }));
    expect(plain.status).toBe(201);
    expect(plain.body).toMatchObject({ branches: null, notify: null });
  });

  it('answers 400 naming the problem, and stores nothing', async () => {
    const before = (await alice.get<Page<Listed>>('/v1/triggers?limit=1000')).body.items.length;
    const cases: [Record<string, unknown>, RegExp][] = [
      [body({ source: 'bitbucket' }), /unknown source "bitbucket"; expected one of github, gitlab/],
      [body({ events: [] }), /events/],
      [body({ events: ['merge_request'] }), /events\.0 is not a github event .*push, pull_request/],
      [body({ notify: { url: 'not a url', secret: 'notify-secret-0123456789' } }), /notify\.url must be an http or https URL/],
      [body({ notify: { url: 'ftp://example.test/x', secret: 'notify-secret-0123456789' } }), /notify\.url must be an http or https URL/],
      [body({ notify: { url: 'https://example.test/x', secret: 'short' } }), /secret/],
      [body({ suiteId: 'sui_00000000000000000000000000' }), /suiteId names no suite of alice/],
      [body({ colour: 'blue' }), /colour/],
      [{ ...body(), name: undefined }, /name/],
    ];
    for (const [payload, message] of cases) {
      const res = await alice.post('/v1/triggers', payload);
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(res.body.error.message).toMatch(message);
    }
    // Another user's suite is as unknown as a missing one.
    const bobs = await bob.post('/v1/triggers', body());
    expectError(bobs, 400, 'VALIDATION_FAILED');
    expect(bobs.body.error.message).toMatch(/suiteId names no suite of bob/);
    expect((await alice.get<Page<Listed>>('/v1/triggers?limit=1000')).body.items.length).toBe(before);
  });

  it('needs the runner role to create; lists only the caller\'s own (an admin all); others get 404', async () => {
    expectError(await viewer.post('/v1/triggers', body()), 403, 'FORBIDDEN');
    expectError(await s.request('POST', '/v1/triggers', { body: body() }), 401, 'UNAUTHENTICATED');
    const bobSuite = await seedSuite(bob);
    const bobs = await bob.post('/v1/triggers', body({ suiteId: bobSuite, name: 'bob CI' }));
    expect(bobs.status).toBe(201);
    const mine = await alice.get<Page<Listed>>('/v1/triggers');
    expect(mine.body.items.length).toBeGreaterThan(0);
    expect(mine.body.items.every((t) => t.owner === 'alice')).toBe(true);
    expect((await bob.get<Page<Listed>>('/v1/triggers')).body.items.map((t) => t.id)).toEqual([bobs.body.id]);
    const all = (await admin.get<Page<Listed>>('/v1/triggers?limit=1000')).body.items.map((t) => t.owner);
    expect(new Set(all)).toEqual(new Set(['alice', 'bob']));
    expectError(await alice.get(`/v1/triggers/${bobs.body.id}`), 404, 'NOT_FOUND');
    expectError(await alice.del(`/v1/triggers/${bobs.body.id}`), 404, 'NOT_FOUND');
    expectError(await alice.get(`/v1/triggers/${bobs.body.id}/deliveries`), 404, 'NOT_FOUND');
    expect((await admin.get(`/v1/triggers/${bobs.body.id}`)).status).toBe(200);
  });

  it('lists newest first in pages; a cursor of another list is a 400', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await alice.post('/v1/triggers', body({ name: `paged ${i}` }))).body.id);
    const first = await alice.get<Page<Listed>>('/v1/triggers?limit=2');
    expect(first.body.items.map((t) => t.id)).toEqual([ids[2], ids[1]]);
    const second = await alice.get<Page<Listed>>(`/v1/triggers?limit=1&cursor=${first.body.next}`);
    expect(second.body.items.map((t) => t.id)).toEqual([ids[0]]);
    expectError(await alice.get('/v1/triggers?cursor=bm90LWEtY3Vyc29y'), 400, 'VALIDATION_FAILED');
    expectError(await alice.get('/v1/triggers?limit=0'), 400, 'VALIDATION_FAILED');
  });

  it('deletes its own (200, then 404), an admin anyone\'s; creations and deletions are in the audit log', async () => {
    const mine = (await alice.post('/v1/triggers', body({ name: 'short-lived' }))).body.id as string;
    expect((await alice.del(`/v1/triggers/${mine}`)).body).toEqual({ id: mine, deleted: true });
    expectError(await alice.get(`/v1/triggers/${mine}`), 404, 'NOT_FOUND');
    expectError(await alice.del(`/v1/triggers/${mine}`), 404, 'NOT_FOUND');
    const other = (await alice.post('/v1/triggers', body({ name: 'removed by admin' }))).body.id as string;
    expect((await admin.del(`/v1/triggers/${other}`)).status).toBe(200);
    const audit = (await admin.get('/v1/audit?limit=1000')).body.items as { action: string; target: string; principal: string; source: string }[];
    expect(audit.find((a) => a.action === 'CREATE_TRIGGER' && a.target === mine)).toMatchObject({ principal: 'alice', source: '127.0.0.1' });
    expect(audit.find((a) => a.action === 'DELETE_TRIGGER' && a.target === mine)).toMatchObject({ principal: 'alice' });
    expect(audit.find((a) => a.action === 'DELETE_TRIGGER' && a.target === other)).toMatchObject({ principal: 'root' });
  });
});
