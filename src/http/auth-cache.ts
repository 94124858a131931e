import type { Principal } from '../engine/principal.js';

/**
 * Principals already verified, by credential, each until its deadline; at most `limit` of them (the oldest go
 * first). Verifying a JWT or looking an API key up for every request cost more than the request's own work.
 */
export class PrincipalCache {
  private readonly entries = new Map<string, { principal: Principal; until: number }>();

  constructor(private readonly limit: number) {}

  get(credential: string, now: number): Principal | undefined {
    const entry = this.entries.get(credential);
    if (!entry) return undefined;
    if (entry.until > now) return entry.principal;
    this.entries.delete(credential);
    return undefined;
  }

  set(credential: string, principal: Principal, until: number): void {
    if (this.entries.size >= this.limit) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(credential, { principal, until });
  }

  /** Forgets every entry (a key was revoked). */
  clear(): void {
    this.entries.clear();
  }
}
