import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { Authenticator, issueApiKey } from '../../src/http/auth.js';
import { SqliteStore } from '../../src/store/sqlite.store.js';

/**
 * Verified credentials are trusted for a short while without a new check (the API's hot path): what that must
 * never allow — a JWT past its expiry, a key revoked here, a key revoked elsewhere past the cache time.
 */

const secret = 'a-secret-that-is-long-enough-for-hs256-0123456789';

async function until(check: () => Promise<boolean>): Promise<void> {
  for (;;) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const refused = (auth: Authenticator, token: string) =>
  auth.verifyToken(token).then(
    () => false,
    (err: Error & { code?: string }) => err.code === 'UNAUTHENTICATED',
  );

describe('verified credentials are cached, within bounds', () => {
  it('a JWT is not trusted past its exp, even when it was verified a moment before', async () => {
    const store = new SqliteStore({ file: ':memory:' });
    try {
      const auth = await Authenticator.create({ store, audience: 'troupe', secret, clockToleranceSeconds: 0, cacheMs: 60_000 });
      const exp = Math.floor(Date.now() / 1000) + 2;
      const token = await new SignJWT({ aud: 'troupe', sub: 'alice', roles: ['runner'], exp })
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode(secret));
      expect(await auth.verifyToken(token)).toEqual({ id: 'alice', roles: ['runner'] });
      expect(await auth.verifyToken(token)).toEqual({ id: 'alice', roles: ['runner'] });
      await until(() => refused(auth, token));
      expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000);
    } finally {
      await store.close();
    }
  });

  it('a key revoked through this authenticator is refused at once; one revoked elsewhere once the cache time passed', async () => {
    const store = new SqliteStore({ file: ':memory:' });
    try {
      const auth = await Authenticator.create({ store, audience: 'troupe', cacheMs: 300 });
      const first = await issueApiKey(store, 'bob', 'runner', 'first');
      const second = await issueApiKey(store, 'bob', 'runner', 'second');
      expect(await auth.verifyToken(first.secret)).toEqual({ id: 'bob', roles: ['runner'] });
      expect(await auth.verifyToken(second.secret)).toEqual({ id: 'bob', roles: ['runner'] });

      await store.revokeApiKey(first.key.id, Date.now());
      auth.forgetVerified(); // what DELETE /v1/keys/:id does
      expect(await refused(auth, first.secret)).toBe(true);

      // Revoked in the store only (another process on the same data dir): trusted until the cache time ran out.
      const revokedAt = Date.now();
      await store.revokeApiKey(second.key.id, revokedAt);
      await until(() => refused(auth, second.secret));
      expect(Date.now() - revokedAt).toBeLessThan(60_000);
    } finally {
      await store.close();
    }
  });

  it('an unknown key is looked up every time (failures are not cached)', async () => {
    const store = new SqliteStore({ file: ':memory:' });
    try {
      const auth = await Authenticator.create({ store, audience: 'troupe', cacheMs: 60_000 });
      expect(await refused(auth, 'troupe_not-a-key')).toBe(true);
      // The same secret, issued afterwards (cannot happen in practice: secrets are random), is accepted: no refusal was kept.
      const { key } = await issueApiKey(store, 'carol', 'viewer', 'k');
      const { hashApiKey } = await import('../../src/http/auth.js');
      await store.createApiKey({ ...key, id: `${key.id}x`, hash: hashApiKey('troupe_not-a-key') });
      expect(await auth.verifyToken('troupe_not-a-key')).toEqual({ id: 'carol', roles: ['viewer'] });
    } finally {
      await store.close();
    }
  });
});
