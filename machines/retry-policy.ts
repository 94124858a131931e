import type { RetryableOutcome } from '../src/core/statuses.js';

/** A retry policy with every default resolved (SPEC §3). */
export interface RetryPolicy {
  /** All attempts, the first included. */
  maxAttempts: number;
  delayMs: number;
  backoff: 'fixed' | 'exponential';
  maxDelayMs: number;
  /** Fraction (0–1) of the delay that is randomised. */
  jitter: number;
  retryOn: readonly RetryableOutcome[];
}

export function retryCovers(policy: RetryPolicy, attempt: number, outcome: RetryableOutcome): boolean {
  return attempt < policy.maxAttempts && policy.retryOn.includes(outcome);
}

/**
 * Delay before the attempt after `attempt` (1-based). `random` in [0, 1) is supplied by the caller so the
 * computation stays pure and testable; jitter spreads the delay over [d·(1−jitter), d].
 */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: number): number {
  // The exponent is bounded so 0 · 2^n never becomes NaN (0 · Infinity).
  const factor = policy.backoff === 'exponential' ? 2 ** Math.min(Math.max(0, attempt - 1), 52) : 1;
  const capped = Math.min(policy.delayMs * factor, policy.maxDelayMs);
  const r = Number.isFinite(random) ? Math.min(Math.max(random, 0), 1) : 0;
  return Math.max(0, Math.min(Math.floor(policy.maxDelayMs), Math.round(capped * (1 - policy.jitter * r))));
}
