import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueApiKey } from '../../src/http/auth.js';
import { expectError, randomSecret, signHs256, startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { LiveClient, refusedUpgrade } from './live.helpers.js';

describe('live channel: authentication on upgrade', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => {
    await s?.[Symbol.asyncDispose]();
  });

  async function expectRefused(credentials: { header?: string; query?: string }): Promise<string> {
    const answer = await refusedUpgrade(s.wsUrl, credentials);
    expectError(answer, 401, 'UNAUTHENTICATED');
    return (answer.body as { error: { message: string } }).error.message;
  }

  it('refuses an upgrade without credentials with 401 and the error body', async () => {
    expect(await expectRefused({})).toMatch(/Bearer/);
  });

  it('refuses bad, foreign-key, expired and malformed tokens', async () => {
    await expectRefused({ header: 'not-a-jwt' });
    await expectRefused({ query: 'not-a-jwt' });
    await expectRefused({ header: await signHs256(randomSecret(), 'mallory', ['admin'], s.audience) });
    const now = Math.floor(Date.now() / 1000);
    const expired = await s.token('alice', ['runner'], { exp: now - 3600 });
    expect(await expectRefused({ header: expired })).toMatch(/exp/);
    await expectRefused({ query: expired });
    await expectRefused({ header: await s.token('alice', ['runner'], { aud: 'someone-else' }) });
  });

  it('refuses unknown and revoked API keys, and accepts a live one as its owner', async () => {
    await expectRefused({ header: 'troupe_thisKeyWasNeverIssued' });
    const { secret, key } = await issueApiKey(s.engine.store, 'kim', 'viewer', 'live test');
    const ws = await LiveClient.connect(s.wsUrl, { header: secret });
    expect(await ws.subscribe(['user:kim'])).toMatchObject({ op: 'subscribed', topics: ['user:kim'] });
    ws.close();
    // Revoked as an admin does it: refused at once, although the key was just verified (and is remembered).
    const admin = await s.client('root', ['admin']);
    expect((await admin.del(`/v1/keys/${key.id}`)).status).toBe(200);
    expect(await expectRefused({ header: secret })).toMatch(/revoked/);
    await expectRefused({ query: secret });
  });

  it('accepts a token in the Authorization header or in the token query parameter', async () => {
    const token = await s.token('lena', ['viewer']);
    for (const credentials of [{ header: token }, { query: token }]) {
      const ws = await LiveClient.connect(s.wsUrl, credentials);
      // The principal is the token's subject: its own user topic is allowed, another's is not.
      expect(await ws.subscribe(['user:lena'])).toMatchObject({ op: 'subscribed', topics: ['user:lena'] });
      expect(await ws.subscribe(['user:someone'])).toMatchObject({ op: 'error', topic: 'user:someone', error: { code: 'NOT_FOUND' } });
      ws.close();
    }
  });
});

describe('live channel: connection limit', () => {
  it('answers upgrades beyond WEBSOCKET_MAX_CONNECTIONS with 429, and admits again once one closes', async () => {
    await using s = await startTestServer({ WEBSOCKET_MAX_CONNECTIONS: '2' });
    const token = await s.token('max', ['viewer']);
    const first = await LiveClient.connect(s.wsUrl, { header: token });
    const second = await LiveClient.connect(s.wsUrl, { query: token });
    const refused = await refusedUpgrade(s.wsUrl, { header: token });
    expectError(refused, 429, 'RATE_LIMITED');
    expect(refused.body.error.message).toMatch(/WEBSOCKET_MAX_CONNECTIONS/);
    expect(refused.headers['retry-after']).toBe('5');
    const gauge = async () => /^troupe_live_connections (\d+)$/m.exec((await s.request('GET', '/metrics')).text)?.[1];
    expect(await gauge()).toBe('2');

    first.close();
    await first.waitClosed();
    await waitFor(async () => (await gauge()) === '1', 'the server to count the close');
    const third = await LiveClient.connect(s.wsUrl, { header: token });
    expect(await third.subscribe(['user:max'])).toMatchObject({ op: 'subscribed' });
    expectError(await refusedUpgrade(s.wsUrl, { header: token }), 429, 'RATE_LIMITED');
    second.close();
    third.close();
  });

  it('counts refused upgrades out: failed authentications do not use up the limit', async () => {
    await using s = await startTestServer({ WEBSOCKET_MAX_CONNECTIONS: '1' });
    for (let i = 0; i < 3; i++) expectError(await refusedUpgrade(s.wsUrl, { header: 'bad' }), 401, 'UNAUTHENTICATED');
    const ws = await LiveClient.connect(s.wsUrl, { header: await s.token('one', ['viewer']) });
    expectError(await refusedUpgrade(s.wsUrl, { header: await s.token('two', ['viewer']) }), 429, 'RATE_LIMITED');
    ws.close();
  });
});

describe('live channel: configuration and shutdown', () => {
  it('registers no route when WEBSOCKET_ENABLED is false', async () => {
    await using s = await startTestServer({ WEBSOCKET_ENABLED: 'false' });
    const answer = await refusedUpgrade(s.wsUrl, { header: await s.token('nobody', ['viewer']) });
    expectError(answer, 404, 'NOT_FOUND');
  });

  it('ends every socket with 1001 when the server closes', async () => {
    const s = await startTestServer();
    const token = await s.token('olga', ['viewer']);
    const a = await LiveClient.connect(s.wsUrl, { header: token }).catch(async (err: unknown) => {
      await s[Symbol.asyncDispose]();
      throw err;
    });
    const b = await LiveClient.connect(s.wsUrl, { query: token });
    await a.subscribe(['user:olga']);
    await s[Symbol.asyncDispose]();
    expect(await a.waitClosed()).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(await b.waitClosed()).toEqual({ code: 1001, reason: 'server shutting down' });
  });
});
