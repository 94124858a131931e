import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay, retryCovers, type RetryPolicy } from '../../machines/retry-policy.js';
import { RETRYABLE_OUTCOMES } from '../../src/core/statuses.js';

const base: RetryPolicy = {
  maxAttempts: 3,
  delayMs: 1_000,
  backoff: 'fixed',
  maxDelayMs: 60_000,
  jitter: 0,
  retryOn: ['ERROR'],
};
/** Just below 1, the top of the [0, 1) range a caller draws from. */
const ALMOST_ONE = 1 - Number.EPSILON;

describe('backoffDelay', () => {
  it('fixed: the same delay before every attempt', () => {
    for (const attempt of [1, 2, 3, 7, 20]) expect(backoffDelay(base, attempt, 0)).toBe(1_000);
  });

  it('exponential: delayMs · 2^(attempt − 1)', () => {
    const policy: RetryPolicy = { ...base, backoff: 'exponential' };
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay(policy, a, 0))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000]);
  });

  it('caps at maxDelayMs, exponential and fixed alike', () => {
    const exponential: RetryPolicy = { ...base, backoff: 'exponential', maxDelayMs: 5_000 };
    expect([1, 2, 3, 4, 5, 60].map((a) => backoffDelay(exponential, a, 0))).toEqual([
      1_000, 2_000, 4_000, 5_000, 5_000, 5_000,
    ]);
    expect(backoffDelay({ ...base, delayMs: 90_000, maxDelayMs: 30_000 }, 1, 0)).toBe(30_000);
  });

  it('jitter: random 0 gives the full delay, random → 1 gives delay · (1 − jitter)', () => {
    const policy: RetryPolicy = { ...base, delayMs: 10_000, jitter: 0.3 };
    expect(backoffDelay(policy, 1, 0)).toBe(10_000);
    expect(backoffDelay(policy, 1, ALMOST_ONE)).toBe(7_000);
    expect(backoffDelay(policy, 1, 0.5)).toBe(8_500);
    // Jitter applies after the cap.
    const capped: RetryPolicy = { ...policy, backoff: 'exponential', maxDelayMs: 20_000 };
    expect(backoffDelay(capped, 10, 0)).toBe(20_000);
    expect(backoffDelay(capped, 10, ALMOST_ONE)).toBe(14_000);
  });

  it('jitter 1 may shorten the delay to nothing, jitter 0 never shortens it', () => {
    expect(backoffDelay({ ...base, jitter: 1 }, 1, ALMOST_ONE)).toBe(0);
    expect(backoffDelay({ ...base, jitter: 0 }, 1, ALMOST_ONE)).toBe(1_000);
  });

  it('clamps an out-of-range random into [0, 1]', () => {
    const policy: RetryPolicy = { ...base, jitter: 0.5 };
    expect(backoffDelay(policy, 1, -3)).toBe(1_000);
    expect(backoffDelay(policy, 1, 7)).toBe(500);
  });

  it('is a whole number of milliseconds', () => {
    expect(backoffDelay({ ...base, delayMs: 1_001, jitter: 0.5 }, 1, 0.5)).toBe(751);
  });

  it('property: always a whole number within [0, maxDelayMs] and within the jitter band of the capped delay', () => {
    fc.assert(
      fc.property(
        fc.record({
          maxAttempts: fc.integer({ min: 1, max: 10 }),
          delayMs: fc.integer({ min: 0, max: 10 * 60_000 }),
          backoff: fc.constantFrom('fixed' as const, 'exponential' as const),
          maxDelayMs: fc.integer({ min: 0, max: 60 * 60_000 }),
          jitter: fc.double({ min: 0, max: 1, noNaN: true }),
          retryOn: fc.subarray([...RETRYABLE_OUTCOMES]),
        }),
        fc.integer({ min: 1, max: 200 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (policy, attempt, random) => {
          const delay = backoffDelay(policy, attempt, random);
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(policy.maxDelayMs);
          const capped = Math.min(
            policy.backoff === 'exponential' ? policy.delayMs * 2 ** (attempt - 1) : policy.delayMs,
            policy.maxDelayMs,
          );
          expect(delay).toBeLessThanOrEqual(capped);
          expect(delay).toBeGreaterThanOrEqual(Math.floor(capped * (1 - policy.jitter)));
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('property: without jitter, exponential delays never shrink from one attempt to the next', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.integer({ min: 1, max: 100 }),
        (delayMs, maxDelayMs, attempt) => {
          const policy: RetryPolicy = { ...base, backoff: 'exponential', delayMs, maxDelayMs };
          expect(backoffDelay(policy, attempt + 1, 0)).toBeGreaterThanOrEqual(backoffDelay(policy, attempt, 0));
        },
      ),
    );
  });

  it('property: a larger random never lengthens the delay', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (jitter, a, b) => {
          const policy: RetryPolicy = { ...base, delayMs: 30_000, jitter };
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          expect(backoffDelay(policy, 1, hi)).toBeLessThanOrEqual(backoffDelay(policy, 1, lo));
        },
      ),
    );
  });
});

describe('retryCovers', () => {
  it('counts every attempt, the first included: with maxAttempts 3 attempts 1 and 2 may retry, 3 may not', () => {
    const policy: RetryPolicy = { ...base, retryOn: ['FAILED', 'ERROR', 'TIMEOUT'] };
    expect([1, 2, 3, 4].map((a) => retryCovers(policy, a, 'ERROR'))).toEqual([true, true, false, false]);
  });

  it('maxAttempts 1 (or less) never retries', () => {
    for (const maxAttempts of [1, 0]) {
      expect(retryCovers({ ...base, maxAttempts, retryOn: [...RETRYABLE_OUTCOMES] }, 1, 'ERROR')).toBe(false);
    }
  });

  it('covers only the outcomes listed in retryOn', () => {
    expect(retryCovers(base, 1, 'ERROR')).toBe(true);
    expect(retryCovers(base, 1, 'FAILED')).toBe(false);
    expect(retryCovers(base, 1, 'TIMEOUT')).toBe(false);
    expect(retryCovers({ ...base, retryOn: ['FAILED', 'TIMEOUT'] }, 1, 'FAILED')).toBe(true);
    expect(retryCovers({ ...base, retryOn: ['FAILED', 'TIMEOUT'] }, 1, 'ERROR')).toBe(false);
    expect(retryCovers({ ...base, retryOn: [] }, 1, 'ERROR')).toBe(false);
  });

  it('property: covers exactly when attempt < maxAttempts and the outcome is listed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 1, max: 12 }),
        fc.subarray([...RETRYABLE_OUTCOMES]),
        fc.constantFrom(...RETRYABLE_OUTCOMES),
        (maxAttempts, attempt, retryOn, outcome) => {
          expect(retryCovers({ ...base, maxAttempts, retryOn }, attempt, outcome)).toBe(
            attempt < maxAttempts && retryOn.includes(outcome),
          );
        },
      ),
    );
  });
});
