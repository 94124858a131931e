import { MessageChannel, parentPort, threadId, type MessagePort } from 'node:worker_threads';
import { toPlainError } from '../core/errors.js';
import type { ItemType } from '../core/statuses.js';
import type { Runner } from '../runners/runner.js';
import type { PoolBatch, PoolOutcome, PoolPortMessage, PoolReport, PoolStop, PoolTask } from './protocol.js';

/**
 * Builds the function a pool worker thread exports: it runs a batch of tasks at once, each with the runner of
 * its type, stops one cooperatively on a stop message or at its deadline, turns every failure into plain data,
 * and reports results on the thread's own port as they finish (one message per turn of its event loop).
 */
export function createTaskHandler(runners: Partial<Record<ItemType, Runner>>): (batch: PoolBatch) => Promise<void> {
  const controllers = new Map<string, AbortController>();
  const { port1, port2 } = new MessageChannel();
  port1.on('message', (stop: PoolStop) => controllers.get(stop.jobId)?.abort({ kind: stop.kind, reason: stop.reason }));
  port1.unref();
  parentPort?.postMessage({ type: 'troupe:pool-port', threadId, port: port2 } satisfies PoolPortMessage, [port2]);
  const reporter = new Reporter(port1);

  return async ({ id, tasks }) => {
    port1.postMessage({ type: 'started', batch: id } satisfies PoolReport);
    await Promise.all(
      tasks.map(async (task) => {
        const controller = new AbortController();
        controllers.set(task.jobId, controller);
        const outcome = await runTask(runners, task, controller);
        controllers.delete(task.jobId);
        reporter.add(task.jobId, outcome);
      }),
    );
    // Reported before the batch's task settles: the main thread reads the port when it does.
    reporter.flush();
  };
}

/** Collects results finished in one turn of the event loop and posts them together. */
class Reporter {
  private results: [string, PoolOutcome][] = [];
  private scheduled = false;

  constructor(private readonly port: MessagePort) {}

  add(jobId: string, outcome: PoolOutcome): void {
    this.results.push([jobId, outcome]);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.scheduled = false;
    if (this.results.length === 0) return;
    this.port.postMessage({ type: 'results', results: this.results } satisfies PoolReport);
    this.results = [];
  }
}

async function runTask(runners: Partial<Record<ItemType, Runner>>, task: PoolTask, controller: AbortController): Promise<PoolOutcome> {
  const runner = runners[task.item.type];
  if (!runner) {
    return {
      outcome: 'ERROR',
      reason: `no runner for type ${task.item.type}`,
      error: { code: 'UNKNOWN_RUNNER', message: `no runner for type ${task.item.type}`, retryable: false },
      steps: [],
    };
  }
  const timer = setTimeout(
    () => controller.abort({ kind: 'timeout', reason: `run deadline of ${task.item.timeoutMs ?? 'default'} ms passed` }),
    Math.max(0, task.deadlineAt - Date.now()),
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
  }
}

/** A runner stopped by its signal ends as TIMEOUT / CANCELLED whatever it returned. */
function stoppedOutcome(signal: AbortSignal, result: PoolOutcome): PoolOutcome | null {
  if (!signal.aborted || result.outcome === 'PASSED' || result.outcome === 'FAILED') return null;
  const reason = signal.reason as { kind?: string; reason?: string } | undefined;
  const outcome = reason?.kind === 'timeout' ? 'TIMEOUT' : 'CANCELLED';
  return { ...result, outcome, reason: reason?.reason ?? result.reason };
}
