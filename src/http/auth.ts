import { createHash, randomBytes } from 'node:crypto';
import {
  createRemoteJWKSet,
  importSPKI,
  jwtVerify,
  type JWTVerifyGetKey,
  type CryptoKey,
  type KeyObject,
} from 'jose';
import { TroupeError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { Principal } from '../engine/principal.js';
import type { ApiKeyRecord, Role, Store } from '../store/store.port.js';
import { PrincipalCache } from './auth-cache.js';

export const ROLES: readonly Role[] = ['viewer', 'runner', 'admin'];

export interface AuthOptions {
  store: Store;
  /** Expected `aud` claim (TROUPE_JWT_AUDIENCE). */
  audience: string;
  /** HS256 shared secret (TROUPE_JWT_SECRET). */
  secret?: string;
  /** RS256 public key, PEM SPKI (TROUPE_JWT_PUBLIC_KEY). */
  publicKey?: string;
  /** RS256 keys from a JWKS endpoint (TROUPE_JWT_JWKS_URL). */
  jwksUrl?: string;
  /**
   * Clock skew tolerated on `exp` and `nbf`.
   * @defaultValue 5
   */
  clockToleranceSeconds?: number;
  /**
   * How long a verified credential is trusted without checking it again: an API key revoked by another process
   * on the same data dir stops working within this time (revoked through this one, at once); a JWT is trusted
   * no longer than its `exp`.
   * @defaultValue 2000
   */
  cacheMs?: number;
}

/** Verified credentials kept at once. */
const CACHE_LIMIT = 10_000;

const API_KEY_PREFIX = 'troupe_';

export function hashApiKey(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Creates an API key; the returned secret is shown once and only its hash is stored. */
export async function issueApiKey(
  store: Store,
  owner: string,
  role: Role,
  name: string,
): Promise<{ secret: string; key: ApiKeyRecord }> {
  const secret = `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  const key: ApiKeyRecord = {
    id: newId('key'),
    hash: hashApiKey(secret),
    owner,
    role,
    name,
    createdAt: Date.now(),
    revokedAt: null,
  };
  await store.createApiKey(key);
  return { secret, key };
}

function unauthenticated(message: string): TroupeError {
  return new TroupeError('UNAUTHENTICATED', message);
}

/**
 * Verifies `Authorization: Bearer <JWT | troupe_ API key>`. JWTs: algorithm allow-list by configured key type
 * (an HS256 token is never checked against an RSA key), `exp` and `aud` required, small clock tolerance.
 */
export class Authenticator {
  private readonly algorithms: string[] = [];
  private readonly getKey: JWTVerifyGetKey | null;
  private readonly verified = new PrincipalCache(CACHE_LIMIT);

  private constructor(
    private readonly options: AuthOptions,
    hsKey: Uint8Array | null,
    rsKey: CryptoKey | KeyObject | JWTVerifyGetKey | null,
  ) {
    if (hsKey) this.algorithms.push('HS256');
    if (rsKey) this.algorithms.push('RS256');
    this.getKey =
      hsKey || rsKey
        ? async (header, token) => {
            if (header.alg === 'HS256' && hsKey) return hsKey;
            if (header.alg === 'RS256' && rsKey) return typeof rsKey === 'function' ? rsKey(header, token) : rsKey;
            throw unauthenticated(`token algorithm ${String(header.alg)} is not accepted`);
          }
        : null;
  }

  static async create(options: AuthOptions): Promise<Authenticator> {
    const hsKey = options.secret ? new TextEncoder().encode(options.secret) : null;
    let rsKey: CryptoKey | KeyObject | JWTVerifyGetKey | null = null;
    if (options.publicKey) rsKey = await importSPKI(options.publicKey, 'RS256');
    else if (options.jwksUrl) rsKey = createRemoteJWKSet(new URL(options.jwksUrl));
    return new Authenticator(options, hsKey, rsKey);
  }

  /** Whether any JWT verification key is configured. */
  get acceptsJwt(): boolean {
    return this.getKey !== null;
  }

  async authenticate(authorization: string): Promise<Principal> {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    if (!match) throw unauthenticated('send Authorization: Bearer <token or API key>');
    return this.verifyToken(match[1] as string);
  }

  /** Verifies a bare token (also used for the live channel's `token` query parameter). */
  async verifyToken(token: string): Promise<Principal> {
    const now = Date.now();
    const known = this.verified.get(token, now);
    if (known) return known;
    if (token.startsWith(API_KEY_PREFIX)) {
      const principal = await this.verifyApiKey(token);
      this.verified.set(token, principal, now + (this.options.cacheMs ?? 2000));
      return principal;
    }
    if (!this.getKey) throw unauthenticated('JWTs are not accepted: no TROUPE_JWT_* key is configured');
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.getKey, {
        algorithms: this.algorithms,
        audience: this.options.audience,
        requiredClaims: ['exp', 'aud', 'sub'],
        clockTolerance: this.options.clockToleranceSeconds ?? 5,
      }));
    } catch (err) {
      if (err instanceof TroupeError) throw err;
      throw unauthenticated(`invalid token: ${(err as Error).message}`);
    }
    const roles = payload.roles ?? ['viewer'];
    if (!Array.isArray(roles) || roles.length === 0 || !roles.every((r) => ROLES.includes(r as Role))) {
      throw unauthenticated('invalid token: roles must be a non-empty subset of viewer, runner, admin');
    }
    if (typeof payload.sub !== 'string' || payload.sub === '') throw unauthenticated('invalid token: sub is required');
    const principal: Principal = { id: payload.sub, roles: roles as Role[] };
    // Trusted until its own expiry (no tolerance added), and not longer than the cache time.
    this.verified.set(token, principal, Math.min((payload.exp as number) * 1000, now + (this.options.cacheMs ?? 2000)));
    return principal;
  }

  /** A key was revoked here: no credential verified before is trusted any more without a new check. */
  forgetVerified(): void {
    this.verified.clear();
  }

  private async verifyApiKey(secret: string): Promise<Principal> {
    const key = await this.options.store.findApiKeyByHash(hashApiKey(secret));
    if (!key || key.revokedAt !== null) throw unauthenticated('unknown or revoked API key');
    return { id: key.owner, roles: [key.role] };
  }
}

export function hasRole(principal: Principal, role: Role): boolean {
  if (principal.roles.includes('admin')) return true;
  if (role === 'viewer') return true;
  return principal.roles.includes(role);
}

export function requireRole(principal: Principal, role: Role): void {
  if (!hasRole(principal, role)) throw new TroupeError('FORBIDDEN', `this needs the ${role} role`);
}

export function isAdmin(principal: Principal): boolean {
  return principal.roles.includes('admin');
}
