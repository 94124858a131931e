/**
 * Piscina worker of the bare-Piscina peer. Imports nothing: it records when the task started and returns.
 * (Same clock as common.ts `preciseNow`, inlined so the worker loads no other module.)
 */
export default function noop(): number {
  return performance.timeOrigin + performance.now();
}
