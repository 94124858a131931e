import { SignJWT, UnsecuredJWT, base64url, exportSPKI, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { item } from '../helpers/engine.js';
import {
  expectError,
  randomSecret,
  signHs256,
  startTestServer,
  waitForStatus,
  type Execution,
  type Page,
  type Role,
  type SubmittedRun,
  type TestServer,
} from '../helpers/server.js';
import { refusedUpgrade } from './live.helpers.js';

/** Authentication (JWT HS256/RS256, API keys), roles and rate limits over HTTP (SPEC §5). */

const now = () => Math.floor(Date.now() / 1000);
type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

function rs256(privateKey: KeyPair['privateKey'], payload: Record<string, unknown>, audience = 'troupe'): Promise<string> {
  return new SignJWT({ aud: audience, exp: now() + 600, ...payload })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .setIssuedAt()
    .sign(privateKey);
}

/** The token with its payload replaced, header and signature kept. */
function tamper(token: string, change: (payload: Record<string, unknown>) => void): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload))) as Record<string, unknown>;
  change(claims);
  return `${header}.${base64url.encode(JSON.stringify(claims))}.${signature}`;
}

describe('JWT and API keys on an HS256 server', () => {
  let s: TestServer;
  let rsa: KeyPair;
  const stranger = randomSecret();

  beforeAll(async () => {
    s = await startTestServer({ EXECUTION_MAX_CONCURRENT_JOBS: '1000' }, { pool: false });
    rsa = await generateKeyPair('RS256', { extractable: true });
  });
  afterAll(async () => {
    await s[Symbol.asyncDispose]();
  });

  const sign = (sub: string | null, roles: readonly Role[] | null, claims: Parameters<typeof signHs256>[4] = {}) =>
    signHs256(s.secret, sub, roles, s.audience, claims);

  const bad: [string, () => Promise<string>][] = [
    ['alg none', () => Promise.resolve(new UnsecuredJWT({ sub: 'eve', roles: ['admin'], aud: 'troupe' }).setExpirationTime('10m').encode())],
    [
      'alg none with a signature',
      async () => `${(await sign('eve', ['admin'])).split('.').slice(0, 2).map((p, i) => (i === 0 ? base64url.encode('{"alg":"none","typ":"JWT"}') : p)).join('.')}.xyz`,
    ],
    ['HS256 with an empty signature', async () => `${(await sign('eve', ['admin'])).split('.').slice(0, 2).join('.')}.`],
    ['a wrong key', () => signHs256(stranger, 'eve', ['admin'], 'troupe')],
    ['an expired token', () => sign('eve', ['runner'], { exp: now() - 60 })],
    ['nbf in the future beyond tolerance', () => sign('eve', ['runner'], { nbf: now() + 120 })],
    ['no exp', () => sign('eve', ['runner'], { exp: null })],
    ['a wrong aud', () => sign('eve', ['runner'], { aud: 'someone-else' })],
    ['no aud', () => sign('eve', ['runner'], { aud: null })],
    ['a tampered payload (roles)', async () => tamper(await sign('eve', ['viewer']), (p) => (p.roles = ['admin']))],
    ['a tampered payload (sub)', async () => tamper(await sign('eve', ['runner']), (p) => (p.sub = 'amy'))],
    ['a tampered payload (exp)', async () => tamper(await sign('eve', ['runner'], { exp: now() - 60 }), (p) => (p.exp = now() + 600))],
    ['garbage', () => Promise.resolve('garbage')],
    ['three garbage parts', () => Promise.resolve('a.b.c')],
    ['base64 junk', () => Promise.resolve(`${base64url.encode('{"alg":"HS256"}')}.${base64url.encode('not json')}.sig`)],
    ['a role outside the set', () => sign('eve', ['superuser'] as unknown as Role[])],
    ['an extra role outside the set', () => sign('eve', ['admin', 'root'] as unknown as Role[])],
    ['empty roles', () => sign('eve', [])],
    ['roles as a string', () => sign('eve', null, { extra: { roles: 'admin' } })],
    ['no sub', () => sign(null, ['runner'])],
    ['an empty sub', () => sign('', ['runner'])],
    ['a numeric sub', () => sign(null, ['runner'], { extra: { sub: 42 } })],
    ['an RS256 token on a server without an RSA key', () => rs256(rsa.privateKey, { sub: 'eve', roles: ['admin'] })],
    ['an unknown API key', () => Promise.resolve(`troupe_${randomSecret()}`)],
  ];

  it.each(bad)('%s → 401 UNAUTHENTICATED on reads, writes and the live-channel upgrade, nothing stored', async (_what, make) => {
    const token = await make();
    expectError(await refusedUpgrade(s.wsUrl, { header: token }), 401, 'UNAUTHENTICATED');
    expectError(await refusedUpgrade(s.wsUrl, { query: token }), 401, 'UNAUTHENTICATED');
    expectError(await s.request('GET', '/v1/executions', { token }), 401, 'UNAUTHENTICATED');
    expectError(await s.request('POST', '/v1/runs', { token, body: { items: [item('sneaky')] } }), 401, 'UNAUTHENTICATED');
    expectError(await s.request('GET', '/v1/audit', { token }), 401, 'UNAUTHENTICATED');
    const root = await s.client('root', ['admin']);
    expect((await root.get('/v1/runs')).body.items).toEqual([]);
  });

  it.each([
    ['no Authorization header', undefined],
    ['an empty Authorization header', ''],
    ['Basic credentials', `Basic ${Buffer.from('amy:pw').toString('base64')}`],
    ['a bare token without Bearer', 'TOKEN'],
    ['Bearer with nothing after it', 'Bearer '],
    ['Bearer with two tokens', 'Bearer TOKEN TOKEN'],
    ['Token scheme', 'Token TOKEN'],
  ])('%s → 401', async (_what, header) => {
    const token = await sign('amy', ['runner']);
    const headers: Record<string, string> = header === undefined ? {} : { authorization: header.replaceAll('TOKEN', token) };
    expectError(await s.request('GET', '/v1/executions', { headers }), 401, 'UNAUTHENTICATED');
  });

  it('a valid HS256 token is accepted (any case of "Bearer"), and nbf/exp within the clock tolerance are fine', async () => {
    const token = await sign('amy', ['runner']);
    expect((await s.request('GET', '/v1/executions', { token })).status).toBe(200);
    expect((await s.request('GET', '/v1/executions', { headers: { authorization: `bearer ${token}` } })).status).toBe(200);
    expect((await s.request('GET', '/v1/executions', { token: await sign('amy', ['runner'], { nbf: now() + 1 }) })).status).toBe(200);
    expect((await s.request('GET', '/v1/executions', { token: await sign('amy', ['runner'], { exp: now() - 1 }) })).status).toBe(200);
    const created = await s.request('POST', '/v1/executions', { token, body: item('mine') });
    expect(created.status).toBe(201);
    expect(created.body.owner).toBe('amy');
  });

  it('a token without roles is a viewer: reads, cannot submit', async () => {
    const token = await sign('vic', null);
    expect((await s.request('GET', '/v1/executions', { token })).status).toBe(200);
    expectError(await s.request('POST', '/v1/executions', { token, body: item('x') }), 403, 'FORBIDDEN');
  });
});

describe('an RS256-only server (TROUPE_JWT_PUBLIC_KEY, no secret)', () => {
  let s: TestServer;
  let rsa: KeyPair;
  let other: KeyPair;
  let pem: string;

  beforeAll(async () => {
    rsa = await generateKeyPair('RS256', { extractable: true });
    other = await generateKeyPair('RS256', { extractable: true });
    pem = await exportSPKI(rsa.publicKey);
    s = await startTestServer({ TROUPE_JWT_SECRET: '', TROUPE_JWT_PUBLIC_KEY: pem }, { pool: false });
  });
  afterAll(async () => {
    await s[Symbol.asyncDispose]();
  });

  it('a valid RS256 token is accepted, with its sub as the owner', async () => {
    const token = await rs256(rsa.privateKey, { sub: 'rosa', roles: ['runner'] });
    expect((await s.request('GET', '/v1/executions', { token })).status).toBe(200);
    const created = await s.request('POST', '/v1/executions', { token, body: item('rs') });
    expect(created.status, created.text).toBe(201);
    expect(created.body.owner).toBe('rosa');
  });

  it.each([
    ['HS256 signed with the public key PEM as the secret (algorithm confusion)', async () => signHs256(pem, 'eve', ['admin'], 'troupe')],
    ['HS256 signed with the PEM without its line breaks', async () => signHs256(pem.replace(/\n/g, ''), 'eve', ['admin'], 'troupe')],
    ['HS256 with a random secret', async () => signHs256(randomSecret(), 'eve', ['admin'], 'troupe')],
    ['RS256 signed by another key', async () => rs256(other.privateKey, { sub: 'eve', roles: ['admin'] })],
    ['RS256 for another audience', async () => rs256(rsa.privateKey, { sub: 'eve', roles: ['admin'] }, 'elsewhere')],
    ['RS256 expired', async () => rs256(rsa.privateKey, { sub: 'eve', roles: ['admin'], exp: now() - 60 })],
    ['RS256 without sub', async () => rs256(rsa.privateKey, { roles: ['admin'] })],
    ['RS256 with a role outside the set', async () => rs256(rsa.privateKey, { sub: 'eve', roles: ['god'] })],
    ['alg none', () => Promise.resolve(new UnsecuredJWT({ sub: 'eve', roles: ['admin'], aud: 'troupe' }).setExpirationTime('10m').encode())],
  ])('%s → 401', async (_what, make) => {
    const token = await make();
    expectError(await s.request('GET', '/v1/executions', { token }), 401, 'UNAUTHENTICATED');
    expectError(await s.request('POST', '/v1/executions', { token, body: item('x') }), 401, 'UNAUTHENTICATED');
  });
});

describe('roles', () => {
  it('viewer: reads its own, cannot submit, run or command (403); runner: cannot abort or read the audit log; admin can', async () => {
    await using s = await startTestServer({ EXECUTION_MAX_CONCURRENT_JOBS: '1000' }, { pool: false });
    const runner = await s.client('vera', ['runner']);
    const viewer = await s.client('vera', ['viewer']);
    const admin = await s.client('ada', ['admin']);

    expectError(await viewer.post('/v1/executions', item('v')), 403, 'FORBIDDEN');
    expectError(await viewer.post('/v1/runs', { items: [item('v')] }), 403, 'FORBIDDEN');
    expect((await viewer.get('/v1/executions')).body.items).toEqual([]);

    const e = (await runner.post<Execution>('/v1/executions', item('mine'))).body;
    const run = (await runner.post<SubmittedRun>('/v1/runs', { items: [item('r')] })).body;
    await waitForStatus(runner, e.id, 'RUNNING');
    // The viewer reads what its principal owns.
    expect((await viewer.get(`/v1/executions/${e.id}`)).status).toBe(200);
    expect((await viewer.get(`/v1/executions/${e.id}/events`)).status).toBe(200);
    expect((await viewer.get(`/v1/executions/${e.id}/steps`)).status).toBe(200);
    expect((await viewer.get(`/v1/runs/${run.id}`)).status).toBe(200);
    expect((await viewer.get(`/v1/runs/${run.id}/executions`)).status).toBe(200);
    expect((await viewer.get<Page<Execution>>('/v1/executions')).body.items.map((x) => x.id).sort()).toEqual([e.id, ...run.executionIds].sort());
    for (const command of ['cancel', 'pause', 'resume', 'abort', 'retry']) {
      expectError(await viewer.post(`/v1/executions/${e.id}/${command}`), 403, 'FORBIDDEN');
    }
    expectError(await viewer.post(`/v1/runs/${run.id}/cancel`), 403, 'FORBIDDEN');
    expectError(await viewer.get('/v1/audit'), 403, 'FORBIDDEN');
    expectError(await viewer.get('/v1/keys'), 403, 'FORBIDDEN');

    expectError(await runner.post(`/v1/executions/${e.id}/abort`), 403, 'FORBIDDEN');
    expectError(await runner.get('/v1/audit'), 403, 'FORBIDDEN');
    expectError(await runner.get('/v1/keys'), 403, 'FORBIDDEN');
    expectError(await runner.post('/v1/keys', { name: 'k', role: 'admin' }), 403, 'FORBIDDEN');
    expect((await runner.get(`/v1/executions/${e.id}`)).body.status).toBe('RUNNING');

    // Admin: sees and controls everyone's.
    expect((await admin.get(`/v1/executions/${e.id}`)).status).toBe(200);
    const aborted = await admin.post(`/v1/executions/${e.id}/abort`);
    expect(aborted.status, aborted.text).toBe(200);
    expect(aborted.body.status).toBe('ABORTED');
    expect((await admin.get('/v1/audit')).status).toBe(200);
    expect((await admin.get('/v1/keys')).status).toBe(200);
    expect((await admin.post(`/v1/runs/${run.id}/cancel`)).status).toBe(202);
    const retried = await admin.post(`/v1/executions/${e.id}/retry`);
    expect(retried.status, retried.text).toBe(201);
    expect(retried.body).toMatchObject({ rerunOf: e.id, owner: 'ada' });
  });

  it('a runner controls its own: cancel, pause, resume, retry', async () => {
    await using s = await startTestServer({ EXECUTION_MAX_CONCURRENT_JOBS: '1000' }, { pool: false });
    const runner = await s.client('rex', ['runner']);
    const e = (await runner.post<Execution>('/v1/executions', item('own'))).body;
    await waitForStatus(runner, e.id, 'RUNNING');
    for (const [command, status] of [['pause', 200], ['resume', 200], ['cancel', 200], ['retry', 201]] as const) {
      expect((await runner.post(`/v1/executions/${e.id}/${command}`)).status, command).toBe(status);
    }
  });
});

describe('rate limit', () => {
  it('the request after API_RATE_LIMIT_PER_MINUTE → 429 with Retry-After; another principal is unaffected', async () => {
    await using s = await startTestServer({ API_RATE_LIMIT_PER_MINUTE: '5' }, { pool: false });
    const rita = await s.client('rita', ['runner']);
    const otto = await s.client('otto', ['runner']);
    for (let i = 0; i < 5; i++) expect((await rita.get('/v1/executions')).status, `request ${i + 1}`).toBe(200);
    const limited = await rita.get('/v1/executions');
    expectError(limited, 429, 'RATE_LIMITED');
    const retryAfter = limited.headers.get('retry-after');
    expect(retryAfter).toMatch(/^\d+$/);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(retryAfter)).toBeLessThanOrEqual(60);
    // Every route counts, and a limited submit stores nothing.
    expectError(await rita.post('/v1/executions', item('x')), 429, 'RATE_LIMITED');
    for (let i = 0; i < 4; i++) expect((await otto.get('/v1/executions')).status, `otto ${i + 1}`).toBe(200);
    expect((await otto.post('/v1/executions', item('o'))).status).toBe(201);
    const root = await s.client('root', ['admin']);
    expect((await root.get<Page<Execution>>('/v1/executions')).body.items.map((x) => x.owner)).toEqual(['otto']);
    // Health and metrics are not behind the limit.
    expect((await s.request('GET', '/healthz')).status).toBe(200);
  });

  it('the limit follows the principal, not the token: a fresh token for the same sub is still limited', async () => {
    await using s = await startTestServer({ API_RATE_LIMIT_PER_MINUTE: '3' }, { pool: false });
    const first = await s.client('rita', ['runner']);
    for (let i = 0; i < 3; i++) expect((await first.get('/v1/executions')).status).toBe(200);
    const second = await s.client('rita', ['viewer']);
    expectError(await second.get('/v1/executions'), 429, 'RATE_LIMITED');
  });
});
