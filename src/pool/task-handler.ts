import { toPlainError } from '../core/errors.js';
import type { ItemType } from '../core/statuses.js';
import type { Runner } from '../runners/runner.js';
import { threadId } from 'node:worker_threads';
import { CONTROL_CHANNEL, type PoolControl, type PoolOutcome, type PoolStarted, type PoolTask } from './protocol.js';

/**
 * Builds the function a pool worker thread exports: it runs one task with the runner of its type, stops it
 * cooperatively on a control message or at its deadline, and turns every failure into plain data.
 */
export function createTaskHandler(runners: Partial<Record<ItemType, Runner>>): (task: PoolTask) => Promise<PoolOutcome> {
  const running = new Map<string, AbortController>();
  const channel = new BroadcastChannel(CONTROL_CHANNEL);
  channel.onmessage = (event) => {
    const control = (event as MessageEvent).data as PoolControl | PoolStarted;
    if (control.type === 'started') return;
    running.get(control.jobId)?.abort({ kind: control.type, reason: control.reason });
  };
  (channel as unknown as { unref(): void }).unref();

  return async (task) => {
    const runner = runners[task.item.type];
    if (!runner) {
      return {
        outcome: 'ERROR',
        reason: `no runner for type ${task.item.type}`,
        error: { code: 'UNKNOWN_RUNNER', message: `no runner for type ${task.item.type}`, retryable: false },
        steps: [],
      };
    }
    const controller = new AbortController();
    running.set(task.jobId, controller);
    channel.postMessage({ type: 'started', jobId: task.jobId, threadId } satisfies PoolStarted);
    const timeoutMs = Math.max(0, task.deadlineAt - Date.now());
    const timer = setTimeout(
      () => controller.abort({ kind: 'timeout', reason: `run deadline of ${task.item.timeoutMs ?? 'default'} ms passed` }),
      timeoutMs,
    );
    try {
      const result = await runner(task.item, {
        signal: controller.signal,
        deadlineAt: task.deadlineAt,
        executionId: task.executionId,
        attempt: task.attempt,
      });
      return stoppedOutcome(controller.signal, result) ?? result;
    } catch (err) {
      const stopped = stoppedOutcome(controller.signal, { outcome: 'ERROR', reason: null, steps: [] });
      if (stopped) return stopped;
      const error = toPlainError(err);
      return { outcome: 'ERROR', reason: `runner raised: ${error.message}`, error, steps: [] };
    } finally {
      clearTimeout(timer);
      running.delete(task.jobId);
    }
  };
}

/** A runner stopped by its signal ends as TIMEOUT / CANCELLED whatever it returned. */
function stoppedOutcome(signal: AbortSignal, result: PoolOutcome): PoolOutcome | null {
  if (!signal.aborted || result.outcome === 'PASSED' || result.outcome === 'FAILED') return null;
  const reason = signal.reason as { kind?: string; reason?: string } | undefined;
  const outcome = reason?.kind === 'timeout' ? 'TIMEOUT' : 'CANCELLED';
  return { ...result, outcome, reason: reason?.reason ?? result.reason };
}
