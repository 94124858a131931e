import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { githubSignature } from '../../src/core/webhook-signatures.js';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { tempDir } from '../helpers/engine.js';
import { GITHUB_SECRET, HOOK_ENV, github, gitlab, pushPayload, seedSuite } from '../helpers/hooks.js';
import { expectError, startTestServer, type Client, type Page, type TestServer } from '../helpers/server.js';

type Listed = { id: string; owner: string };

/** Webhooks (SPEC §8) over the real server and store: signatures, matching, deduplication, labels, audit. */
describe('webhooks', () => {
  let s: TestServer;
  let alice: Client;
  let admin: Client;
  let shopTrigger: string;
  const runIds = async (): Promise<string[]> => (await admin.get<Page<Listed>>('/v1/runs?limit=1000')).body.items.map((r) => r.id);

  beforeAll(async () => {
    s = await startTestServer(HOOK_ENV, { pool: false });
    [alice, admin] = await Promise.all([s.client('alice'), s.client('root', ['admin'])]);
    const suiteId = await seedSuite(alice);
    const create = async (body: Record<string, unknown>) => {
      const res = await alice.post('/v1/triggers', { suiteId, ...body });
      expect(res.status).toBe(201);
      return res.body.id as string;
    };
    shopTrigger = await create({ name: 'shop CI', source: 'github', repository: 'acme/shop', events: ['push', 'pull_request'], branches: ['main', 'release/*'] });
    await create({ name: 'shop PRs', source: 'github', repository: 'acme/shop', events: ['pull_request'] });
    await create({ name: 'other repo', source: 'github', repository: 'acme/other', events: ['push'] });
    await create({ name: 'gitlab CI', source: 'gitlab', repository: 'group/sub/shop', events: ['push', 'merge_request'], branches: ['main', 'feature/**'] });
  });
  afterAll(async () => {
    await s[Symbol.asyncDispose]();
  });

  it('a matching push starts one run of the suite, owned by the trigger owner, named after it, labelled and audited', async () => {
    const delivery = crypto.randomUUID();
    const commit = 'a1'.repeat(20);
    const res = await github(s, 'push', pushPayload('acme/shop', 'main', commit), { delivery });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ delivery, runs: [expect.stringMatching(/^run_/)] });
    const run = (await alice.get(`/v1/runs/${res.body.runs[0]}`)).body;
    expect(run).toMatchObject({
      name: 'shop CI',
      owner: 'alice',
      context: 'CI_CD',
      total: 1,
      labels: { source: 'github', repository: 'acme/shop', branch: 'main', commit, event: 'push', delivery, trigger: shopTrigger },
    });
    const audit = (await admin.get('/v1/audit?limit=1000')).body.items as { action: string; target: string }[];
    expect(audit.find((a) => a.target === run.id)).toMatchObject({
      action: 'TRIGGER_RUN',
      principal: 'alice',
      source: 'webhook:github',
      details: { trigger: shopTrigger, delivery, event: 'push' },
    });
  });

  it('forged, unsigned and tampered deliveries are 401: nothing started, nothing stored under their delivery id', async () => {
    const before = await runIds();
    const delivery = crypto.randomUUID();
    const payload = pushPayload('acme/shop', 'main');
    expectError(await github(s, 'push', payload, { delivery, secret: 'not the secret' }), 401, 'UNAUTHENTICATED');
    expectError(await github(s, 'push', payload, { delivery, signature: null }), 401, 'UNAUTHENTICATED');
    expectError(await github(s, 'push', payload, { delivery, signature: 'sha256=' }), 401, 'UNAUTHENTICATED');
    const signedOriginal = githubSignature(GITHUB_SECRET, JSON.stringify(payload));
    const tampered = JSON.stringify({ ...payload, repository: { full_name: 'acme/other' } });
    expectError(await github(s, 'push', null, { delivery, raw: tampered, signature: signedOriginal }), 401, 'UNAUTHENTICATED');
    expect(await runIds()).toEqual(before);
    // The id was not taken by the refused attempts: the genuine delivery starts its run.
    expect((await github(s, 'push', payload, { delivery })).body.runs).toHaveLength(1);
  });

  it('the same delivery id again answers 202 with the same runs and starts nothing new; so do concurrent duplicates', async () => {
    const delivery = crypto.randomUUID();
    const first = await github(s, 'push', pushPayload('acme/shop', 'release/2.0'), { delivery });
    expect(first.body.runs).toHaveLength(1);
    const before = await runIds();
    const again = await github(s, 'push', pushPayload('acme/shop', 'release/2.0'), { delivery });
    expect(again.status).toBe(202);
    expect(again.body).toEqual(first.body);
    expect(await runIds()).toEqual(before);

    const twice = crypto.randomUUID();
    const payload = pushPayload('acme/shop', 'main', 'b2'.repeat(20));
    const answers = await Promise.all(Array.from({ length: 4 }, () => github(s, 'push', payload, { delivery: twice })));
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 202]);
    const runs = answers[0]!.body.runs as string[];
    expect(runs).toHaveLength(1);
    for (const a of answers) expect(a.body.runs).toEqual(runs);
    expect((await runIds()).length).toBe(before.length + 1);
  });

  it('starts nothing (202, runs []) for another branch, a tag, a ping and a closed pull request', async () => {
    const before = await runIds();
    const nothing = async (event: string, payload: unknown) => {
      const res = await github(s, event, payload);
      expect(res.status, res.text).toBe(202);
      expect(res.body.runs).toEqual([]);
    };
    await nothing('push', pushPayload('acme/shop', 'feature/x'));
    await nothing('push', pushPayload('acme/unknown', 'main'));
    await nothing('push', { ...pushPayload('acme/shop', 'main'), ref: 'refs/tags/v1.0.0' });
    await nothing('ping', { zen: 'Keep it logically awesome.', hook_id: 1 });
    await nothing('pull_request', { action: 'closed', repository: { full_name: 'acme/shop' }, pull_request: { head: { ref: 'main', sha: 'c3' } } });
    expect(await runIds()).toEqual(before);
  });

  it('a pull request opened starts the runs of every matching trigger, on its head branch and commit', async () => {
    const payload = { action: 'opened', repository: { full_name: 'acme/shop' }, pull_request: { head: { ref: 'release/3.1', sha: 'd4'.repeat(20) } } };
    const res = await github(s, 'pull_request', payload);
    expect(res.status).toBe(202);
    expect(res.body.runs).toHaveLength(2);
    const runs = await Promise.all((res.body.runs as string[]).map(async (id) => (await alice.get(`/v1/runs/${id}`)).body));
    expect(runs.map((r) => r.name).sort()).toEqual(['shop CI', 'shop PRs']);
    for (const r of runs) expect(r.labels).toMatchObject({ event: 'pull_request', branch: 'release/3.1', commit: 'd4'.repeat(20) });
  });

  it('matches the repository whatever its case (GitHub names are case-insensitive); the run is labelled as the trigger names it', async () => {
    const res = await github(s, 'push', pushPayload('Acme/Shop', 'main'));
    expect(res.status).toBe(202);
    expect(res.body.runs).toHaveLength(1);
    const run = (await alice.get(`/v1/runs/${res.body.runs[0]}`)).body;
    expect(run.labels).toMatchObject({ repository: 'acme/shop', trigger: shopTrigger });
  });

  it('a valid signature over a body that is not JSON is a 400, and so is a delivery without its id header', async () => {
    expectError(await github(s, 'push', null, { raw: '{"ref": ' }), 400, 'MALFORMED_JSON');
    const res = await s.request('POST', '/v1/hooks/github', {
      raw: '{}',
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': githubSignature(GITHUB_SECRET, '{}') },
    });
    expectError(res, 400, 'VALIDATION_FAILED');
    expect(res.body.error.message).toMatch(/x-github-delivery/);
    expectError(await github(s, 'push', { ref: 'refs/heads/main', after: 'e5' }), 400, 'VALIDATION_FAILED');
  });

  it('GitLab: the right token starts push and merge request runs; a wrong or missing token is a 401', async () => {
    const project = { path_with_namespace: 'group/sub/shop' };
    const push = await gitlab(s, 'Push Hook', { ref: 'refs/heads/main', checkout_sha: 'f6'.repeat(20), project });
    expect(push.status).toBe(202);
    expect(push.body.runs).toHaveLength(1);
    expect((await alice.get(`/v1/runs/${push.body.runs[0]}`)).body.labels).toMatchObject({
      source: 'gitlab', repository: 'group/sub/shop', branch: 'main', commit: 'f6'.repeat(20), event: 'push', delivery: push.body.delivery,
    });
    const mr = await gitlab(s, 'Merge Request Hook', {
      project,
      object_attributes: { action: 'open', source_branch: 'feature/a/b', last_commit: { id: '07'.repeat(20) } },
    });
    expect(mr.body.runs).toHaveLength(1);
    expect((await alice.get(`/v1/runs/${mr.body.runs[0]}`)).body.labels).toMatchObject({ event: 'merge_request', branch: 'feature/a/b', commit: '07'.repeat(20) });
    const before = await runIds();
    expectError(await gitlab(s, 'Push Hook', { ref: 'refs/heads/main', checkout_sha: 'aa', project }, { token: 'wrong' }), 401, 'UNAUTHENTICATED');
    expectError(await gitlab(s, 'Push Hook', { ref: 'refs/heads/main', checkout_sha: 'aa', project }, { token: null }), 401, 'UNAUTHENTICATED');
    expect(await runIds()).toEqual(before);
  });
});

describe('webhooks: configuration and restarts', () => {
  it('answers 404 for a provider whose secret is not configured, before looking at the request', async () => {
    await using s = await startTestServer({}, { pool: false });
    expectError(await github(s, 'push', pushPayload('acme/shop', 'main')), 404, 'NOT_FOUND');
    expectError(await gitlab(s, 'Push Hook', {}), 404, 'NOT_FOUND');
  });

  it('WEBHOOK_SIGNATURE_VALIDATION=false accepts unsigned and wrongly signed deliveries to a configured provider only', async () => {
    await using s = await startTestServer({ TROUPE_GITHUB_WEBHOOK_SECRET: GITHUB_SECRET, WEBHOOK_SIGNATURE_VALIDATION: 'false' }, { pool: false });
    const alice = await s.client('alice');
    const suiteId = await seedSuite(alice);
    expect((await alice.post('/v1/triggers', { suiteId, name: 'shop', source: 'github', repository: 'acme/shop', events: ['push'] })).status).toBe(201);
    const unsigned = await github(s, 'push', pushPayload('acme/shop', 'main'), { signature: null });
    expect(unsigned.status, unsigned.text).toBe(202);
    expect(unsigned.body.runs).toHaveLength(1);
    expect((await github(s, 'push', pushPayload('acme/shop', 'main'), { secret: 'another secret' })).body.runs).toHaveLength(1);
    // GitLab has no token configured: still 404.
    expectError(await gitlab(s, 'Push Hook', {}, { token: null }), 404, 'NOT_FOUND');
  });

  it('bounds a delivery by TROUPE_MAX_BODY_BYTES like any body: a larger one is a 413, signed or not', async () => {
    await using s = await startTestServer({ ...HOOK_ENV, TROUPE_MAX_BODY_BYTES: '1024' }, { pool: false });
    const payload = { ...pushPayload('acme/shop', 'main'), padding: 'x'.repeat(4096) };
    expectError(await github(s, 'push', payload), 413, 'PAYLOAD_TOO_LARGE');
    expectError(await github(s, 'push', payload, { signature: null }), 413, 'PAYLOAD_TOO_LARGE');
  });

  it('a delivery received again after a restart on the same data dir answers the same runs; no new run is stored', async () => {
    const dir = tempDir();
    const delivery = crypto.randomUUID();
    const payload = pushPayload('acme/shop', 'main');
    // The first server is closed, not disposed: disposing would remove the data dir.
    const first = await startTestServer(HOOK_ENV, { pool: false }, {}, dir);
    const alice = await first.client('alice');
    await alice.post('/v1/triggers', { name: 'shop CI', source: 'github', repository: 'acme/shop', events: ['push'], suiteId: await seedSuite(alice) });
    const answered = await github(first, 'push', payload, { delivery });
    expect(answered.body.runs).toHaveLength(1);
    await first.server.close(1000);
    await first.engine.close();

    await using second = await startTestServer(HOOK_ENV, { pool: false }, {}, dir);
    const again = await github(second, 'push', payload, { delivery });
    expect(again.status).toBe(202);
    expect(again.body).toEqual(answered.body);
    const runs = (await (await second.client('alice')).get<Page<Listed>>('/v1/runs')).body.items.map((r) => r.id);
    expect(runs).toEqual(answered.body.runs);
  });

  it('a server that stopped after starting a delivery’s runs but before storing the delivery starts nothing new when it comes again, even with the suite edited since', async () => {
    const dir = tempDir();
    await using s = await startTestServer(HOOK_ENV, { pool: false }, {}, dir);
    const alice = await s.client('alice');
    const suiteId = await seedSuite(alice);
    await alice.post('/v1/triggers', { name: 'shop CI', source: 'github', repository: 'acme/shop', events: ['push'], suiteId });
    const delivery = crypto.randomUUID();
    const answered = await github(s, 'push', pushPayload('acme/shop', 'main'), { delivery });
    expect(answered.body.runs).toHaveLength(1);
    // What a stop between the two writes leaves: the run stored, the delivery not.
    const db = new Database(join(dir, 'troupe.db'));
    expect(db.prepare('DELETE FROM hook_deliveries').run().changes).toBe(1);
    db.close();
    const suite = (await alice.get(`/v1/suites/${suiteId}`)).body as { name: string; testCaseIds: string[] };
    const extra = (await alice.post('/v1/testcases', { name: 'added since', type: 'GENERIC', steps: [{ action: 'noop' }] })).body.id as string;
    expect((await s.request('PUT', `/v1/suites/${suiteId}`, { token: alice.token, body: { name: suite.name, testCaseIds: [...suite.testCaseIds, extra] } })).status).toBe(200);

    const again = await github(s, 'push', pushPayload('acme/shop', 'main'), { delivery });
    expect(again.status, again.text).toBe(202);
    expect(again.body).toEqual(answered.body);
    expect((await alice.get<Page<Listed>>('/v1/runs')).body.items.map((r) => r.id)).toEqual(answered.body.runs);
  });
});
