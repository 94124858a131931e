import { TroupeError } from '../core/errors.js';

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * Per-principal token bucket: `perMinute` requests a minute, refilled continuously, bursts up to `perMinute`.
 * Over the limit → RATE_LIMITED with the seconds until the next token (sent as `Retry-After`).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {
    this.perMs = perMinute / 60_000;
  }

  take(principalId: string): void {
    const now = this.now();
    const bucket = this.buckets.get(principalId) ?? { tokens: this.perMinute, updatedAt: now };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.updatedAt) * this.perMs);
    bucket.updatedAt = now;
    this.buckets.set(principalId, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return;
    }
    const retryAfterSeconds = Math.max(1, Math.ceil((1 - bucket.tokens) / this.perMs / 1000));
    throw new TroupeError('RATE_LIMITED', `rate limit of ${this.perMinute} requests a minute exceeded`, {
      details: { retryAfterSeconds, limitPerMinute: this.perMinute },
    });
  }

  /** Forgets buckets that are full again, so memory follows active principals only. */
  sweep(): void {
    const now = this.now();
    for (const [id, bucket] of this.buckets) {
      if (bucket.tokens + (now - bucket.updatedAt) * this.perMs >= this.perMinute) this.buckets.delete(id);
    }
  }
}
