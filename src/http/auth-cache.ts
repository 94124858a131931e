import { LruMap } from '../core/lru-map.js';
import type { Principal } from '../engine/principal.js';

/**
 * Principals already verified, by credential, each until its deadline; at most `limit` of them (the least
 * recently used go first). Verifying a JWT or looking an API key up for every request cost more than the
 * request's own work.
 */
export class PrincipalCache {
  private readonly entries: LruMap<string, { principal: Principal; until: number }>;

  constructor(limit: number) {
    this.entries = new LruMap(limit);
  }

  get(credential: string, now: number): Principal | undefined {
    const entry = this.entries.get(credential);
    if (!entry) return undefined;
    if (entry.until > now) return entry.principal;
    this.entries.delete(credential);
    return undefined;
  }

  set(credential: string, principal: Principal, until: number): void {
    this.entries.set(credential, { principal, until });
  }

  /** Forgets every entry (a key was revoked). */
  clear(): void {
    this.entries.clear();
  }
}
