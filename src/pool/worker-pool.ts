import { Piscina } from 'piscina';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { toPlainError } from '../core/errors.js';
import { CONTROL_CHANNEL, type PoolControl, type PoolOutcome, type PoolTask } from './protocol.js';

export interface WorkerPoolOptions {
  /**
   * Worker threads.
   * @defaultValue os.availableParallelism()
   */
  threads?: number;
  /**
   * Tasks one thread runs at once; runners are mostly I/O-bound (HTTP, sleeps, child processes).
   * @defaultValue 16
   */
  tasksPerThread?: number;
  /**
   * Worker entry module; tests pass fixtures that add failure-mode runners.
   * @defaultValue the compiled `pool.worker.js` beside this module
   */
  filename?: string;
  /**
   * How long a runner may ignore a stop (cancel, abort, deadline) before its thread is terminated.
   * @defaultValue 500
   */
  graceMs?: number;
  /** Heap limits per worker thread; a runner that exceeds them kills only its thread. */
  resourceLimits?: { maxOldGenerationSizeMb?: number; maxYoungGenerationSizeMb?: number };
}

export interface RunningTask {
  readonly result: Promise<PoolOutcome>;
  stop(kind: 'cancel' | 'abort', reason: string): void;
}

/**
 * The compiled worker entry. Under vitest this module is loaded from TypeScript sources, so the compiled
 * copy under dist/ is used: worker threads cannot load .ts files.
 */
function defaultWorkerFile(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return here.replace(/worker-pool\.js$/, 'pool.worker.js');
  return here.replace(/([\\/])src([\\/]pool[\\/])worker-pool\.ts$/, '$1dist$1src$2pool.worker.js');
}

/** Runs tasks on Piscina worker threads; guarantees a stop within the grace period, even of a hung runner. */
export class WorkerPool {
  private readonly piscina: Piscina;
  private readonly channel = new BroadcastChannel(CONTROL_CHANNEL);
  private readonly graceMs: number;
  readonly capacity: number;

  constructor(options: WorkerPoolOptions = {}) {
    const threads = options.threads ?? availableParallelism();
    const perThread = options.tasksPerThread ?? 16;
    this.graceMs = options.graceMs ?? 500;
    this.capacity = threads * perThread;
    this.piscina = new Piscina({
      filename: options.filename ?? defaultWorkerFile(),
      minThreads: threads,
      maxThreads: threads,
      concurrentTasksPerWorker: perThread,
      idleTimeout: Number.POSITIVE_INFINITY,
      ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
    });
    (this.channel as unknown as { unref(): void }).unref();
  }

  get threads(): number {
    return this.piscina.threads.length;
  }

  run(task: PoolTask): RunningTask {
    const hard = new AbortController();
    let forced: { outcome: 'TIMEOUT' | 'CANCELLED'; reason: string } | null = null;
    let killTimer: NodeJS.Timeout | null = null;
    const force = (outcome: 'TIMEOUT' | 'CANCELLED', reason: string) => {
      if (killTimer) return;
      killTimer = setTimeout(() => {
        forced = { outcome, reason: `${reason} (runner did not stop within ${this.graceMs} ms; its thread was terminated)` };
        hard.abort();
      }, this.graceMs);
    };
    const deadlineTimer = setTimeout(
      () => force('TIMEOUT', 'run deadline passed'),
      Math.max(0, task.deadlineAt - Date.now()),
    );
    const result = (this.piscina.run(task, { signal: hard.signal }) as Promise<PoolOutcome>).then(
      (outcome) => outcome,
      (err: unknown): PoolOutcome => {
        if (forced) return { outcome: forced.outcome, reason: forced.reason, steps: [] };
        const error = toPlainError(err, 'WORKER_LOST');
        return { outcome: 'ERROR', reason: `worker thread failed: ${error.message}`, error, steps: [] };
      },
    );
    void result.finally(() => {
      clearTimeout(deadlineTimer);
      if (killTimer) clearTimeout(killTimer);
    });
    return {
      result,
      stop: (kind, reason) => {
        const control: PoolControl = { jobId: task.jobId, type: kind, reason };
        this.channel.postMessage(control);
        force('CANCELLED', reason);
      },
    };
  }

  async close(): Promise<void> {
    this.channel.close();
    await this.piscina.destroy();
  }
}
