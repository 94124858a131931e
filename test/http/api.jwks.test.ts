import { createServer, type Server as HttpServer } from 'node:http';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, startTestServer, type TestServer } from '../helpers/server.js';
import { refusedUpgrade } from './live.helpers.js';

/** RS256 tokens verified against keys served from TROUPE_JWT_JWKS_URL (a real local HTTP JWKS endpoint). */
describe('a JWKS-configured server', () => {
  let jwks: HttpServer;
  let s: TestServer;
  let signing: { privateKey: CryptoKey; publicJwk: JWK };
  let unlisted: { privateKey: CryptoKey };
  let fetches = 0;

  const sign = (privateKey: CryptoKey, kid: string, claims: Record<string, unknown>) =>
    new SignJWT({ aud: 'troupe', exp: Math.floor(Date.now() / 1000) + 600, ...claims })
      .setProtectedHeader({ alg: 'RS256', kid })
      .sign(privateKey);

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    signing = { privateKey: pair.privateKey, publicJwk: { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' } };
    unlisted = await generateKeyPair('RS256');
    jwks = createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [signing.publicJwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const { port } = jwks.address() as { port: number };
    s = await startTestServer({ TROUPE_JWT_SECRET: '', TROUPE_JWT_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json` }, { pool: false });
  });
  afterAll(async () => {
    await s[Symbol.asyncDispose]();
    jwks.close();
  });

  it('accepts a token signed with a listed key, fetching the key set', async () => {
    const token = await sign(signing.privateKey, 'k1', { sub: 'jess', roles: ['runner'] });
    const res = await s.request('GET', '/v1/executions', { token });
    expect(res.status).toBe(200);
    expect(fetches).toBeGreaterThan(0);
  });

  it.each([
    ['an unknown kid', () => sign(unlisted.privateKey, 'k2', { sub: 'eve', roles: ['admin'] })],
    ['a listed kid signed by another key', () => sign(unlisted.privateKey, 'k1', { sub: 'eve', roles: ['admin'] })],
    ['a listed key but the wrong audience', () => sign(signing.privateKey, 'k1', { sub: 'eve', roles: ['admin'], aud: 'other' })],
  ])('%s → 401 on HTTP and on the live-channel upgrade', async (_what, make) => {
    const token = await make();
    expectError(await s.request('GET', '/v1/executions', { token }), 401, 'UNAUTHENTICATED');
    expectError(await refusedUpgrade(s.wsUrl, { header: token }), 401, 'UNAUTHENTICATED');
  });
});
