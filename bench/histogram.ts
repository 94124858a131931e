/**
 * A fixed-bucket latency histogram, for samples too many to keep one by one (every message of every subscriber
 * of the live-channel scenarios: tens of millions). Buckets are 0.01 ms wide below 100 ms, 1 ms wide up to
 * 10 s, 100 ms wide up to 600 s; a percentile is reported as the upper edge of its bucket, the maximum exactly.
 * Histograms are plain Uint32Arrays, so they cross the IPC channel as they are and merge by adding.
 */
import type { LatencySummary } from './common.js';

const FINE = 10_000; // [0, 100 ms) in 0.01 ms
const MEDIUM = 9_900; // [100 ms, 10 s) in 1 ms
const COARSE = 5_900; // [10 s, 600 s) in 100 ms
export const BUCKETS = FINE + MEDIUM + COARSE + 1; // + everything above

export function newHistogram(): Uint32Array {
  return new Uint32Array(BUCKETS);
}

/** The bucket of a latency in ms (negative values, from clocks read a fraction of a ms apart, count as 0). */
export function bucketOf(ms: number): number {
  if (!(ms > 0)) return 0;
  if (ms < 100) return Math.floor(ms * 100);
  if (ms < 10_000) return FINE + Math.floor(ms - 100);
  if (ms < 600_000) return FINE + MEDIUM + Math.floor((ms - 10_000) / 100);
  return BUCKETS - 1;
}

/** The upper edge of a bucket, ms (the last bucket has none: Infinity). */
export function upperEdge(bucket: number): number {
  if (bucket < FINE) return (bucket + 1) / 100;
  if (bucket < FINE + MEDIUM) return 100 + (bucket - FINE) + 1;
  if (bucket < BUCKETS - 1) return 10_000 + (bucket - FINE - MEDIUM + 1) * 100;
  return Infinity;
}

/** Adds `from` into `into`. */
export function mergeInto(into: Uint32Array, from: Uint32Array): Uint32Array {
  for (let i = 0; i < into.length; i++) into[i] = (into[i] ?? 0) + (from[i] ?? 0);
  return into;
}

const round = (value: number): number => Number(value.toFixed(2));

/** Nearest-rank percentiles (bucket upper edges, never above the exact maximum). */
export function summarizeHistogram(measures: string, counts: Uint32Array, max: number): LatencySummary {
  let total = 0;
  for (const c of counts) total += c;
  const rank = (p: number): number => {
    if (total === 0) return Number.NaN;
    const target = Math.max(1, Math.ceil((p / 100) * total));
    let seen = 0;
    for (let i = 0; i < counts.length; i++) {
      seen += counts[i] ?? 0;
      if (seen >= target) return Math.min(upperEdge(i), max);
    }
    return max;
  };
  return { measures, count: total, p50: round(rank(50)), p99: round(rank(99)), max: total === 0 ? Number.NaN : round(max) };
}
