import type { TestItem } from '../core/schemas.js';
import type { PoolOutcome } from '../pool/protocol.js';

/** What a runner gets besides the item: a signal that fires on cancel, abort or deadline. */
export interface RunnerContext {
  signal: AbortSignal;
  deadlineAt: number;
  executionId: string;
  attempt: number;
}

/** Runs one test item of one type and reports its steps and outcome. Runs inside a worker thread. */
export type Runner = (item: TestItem, ctx: RunnerContext) => Promise<PoolOutcome>;

/** Why the signal fired, as set by the pool worker. */
export type StopReason = { kind: 'cancel' | 'abort' | 'timeout'; reason: string };

export function stopReasonOf(signal: AbortSignal): StopReason | null {
  if (!signal.aborted) return null;
  const r = signal.reason as Partial<StopReason> | undefined;
  if (r && (r.kind === 'cancel' || r.kind === 'abort' || r.kind === 'timeout')) return r as StopReason;
  return { kind: 'abort', reason: String(signal.reason) };
}
