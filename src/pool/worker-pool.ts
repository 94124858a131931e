import { existsSync } from 'node:fs';
import { Piscina } from 'piscina';
import { availableParallelism } from 'node:os';
import { threadEntry } from '../core/thread-entry.js';
import { toPlainError } from '../core/errors.js';
import { CONTROL_CHANNEL, type PoolControl, type PoolOutcome, type PoolStarted, type PoolTask } from './protocol.js';

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

/** Runs tasks on Piscina worker threads; guarantees a stop within the grace period, even of a hung runner. */
export class WorkerPool {
  private readonly piscina: Piscina;
  private readonly channel = new BroadcastChannel(CONTROL_CHANNEL);
  private readonly graceMs: number;
  /** Which thread runs which job, as the threads report it. */
  private readonly threadOf = new Map<string, number>();
  /** Jobs submitted and not yet settled; a late `started` of a settled job is ignored. */
  private readonly live = new Set<string>();
  /** Stop requests for jobs no thread had reported starting yet; repeated when one does. */
  private readonly earlyStops = new Map<string, PoolControl>();
  /** Jobs to terminate as soon as their thread reports them started. */
  private readonly pendingKills = new Set<string>();
  readonly capacity: number;

  constructor(options: WorkerPoolOptions = {}) {
    const threads = options.threads ?? availableParallelism();
    const perThread = options.tasksPerThread ?? 16;
    this.graceMs = options.graceMs ?? 500;
    this.capacity = threads * perThread;
    const filename = options.filename ?? threadEntry(import.meta.url, 'pool.worker.js');
    // Piscina would only fail inside each thread, and tasks would wait for threads that never come up.
    if (!existsSync(filename)) {
      throw new Error(`the worker thread entry ${filename} does not exist: run \`npm run build\` first`);
    }
    this.piscina = new Piscina({
      filename,
      minThreads: threads,
      maxThreads: threads,
      concurrentTasksPerWorker: perThread,
      idleTimeout: Number.POSITIVE_INFINITY,
      // Runners are asynchronous (timers, sockets, child processes): 'sync' atomics would freeze a thread's
      // event loop between tasks and stall the tasks still running on it.
      atomics: 'disabled',
      ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
    });
    this.channel.onmessage = (event) => {
      const message = (event as MessageEvent).data as PoolControl | PoolStarted;
      if (message.type !== 'started' || !this.live.has(message.jobId)) return;
      this.threadOf.set(message.jobId, message.threadId);
      const stop = this.earlyStops.get(message.jobId);
      if (stop) this.channel.postMessage(stop);
      // Its grace ran out before its thread was known: the stop above gets one more grace, then the thread goes.
      if (this.pendingKills.delete(message.jobId)) {
        const jobId = message.jobId;
        setTimeout(() => {
          if (this.live.has(jobId)) this.killThreadOf(jobId);
        }, this.graceMs).unref();
      }
    };
    (this.channel as unknown as { unref(): void }).unref();
  }

  /**
   * Terminates the thread running `jobId`. Piscina replaces it; other tasks on that thread fail with a
   * thread error (ERROR, retried by default). Piscina's own per-task abort signal is not used: it makes a
   * thread run one task at a time.
   */
  private killThreadOf(jobId: string): boolean {
    const id = this.threadOf.get(jobId);
    const thread = id === undefined ? undefined : this.piscina.threads.find((t) => t.threadId === id);
    if (!thread) return false;
    void thread.terminate();
    return true;
  }

  get threads(): number {
    return this.piscina.threads.length;
  }

  run(task: PoolTask): RunningTask {
    let forced: { outcome: 'TIMEOUT' | 'CANCELLED'; reason: string } | null = null;
    let killTimer: NodeJS.Timeout | null = null;
    const force = (outcome: 'TIMEOUT' | 'CANCELLED', reason: string) => {
      if (killTimer) return;
      killTimer = setTimeout(() => {
        forced = { outcome, reason: `${reason} (runner did not stop within ${this.graceMs} ms; its thread was terminated)` };
        // No thread known yet (its `started` is still on the way, or the task waits in Piscina's queue):
        // terminate it when it reports, rather than never.
        if (!this.killThreadOf(task.jobId)) this.pendingKills.add(task.jobId);
      }, this.graceMs);
    };
    const deadlineTimer = setTimeout(
      () => force('TIMEOUT', 'run deadline passed'),
      Math.max(0, task.deadlineAt - Date.now()),
    );
    this.live.add(task.jobId);
    const result = (this.piscina.run(task) as Promise<PoolOutcome>).then(
      (outcome) => outcome,
      (err: unknown): PoolOutcome => {
        if (forced) return { outcome: forced.outcome, reason: forced.reason, steps: [] };
        const error = toPlainError(err, 'WORKER_LOST');
        return { outcome: 'ERROR', reason: `worker thread failed: ${error.message}`, error, steps: [] };
      },
    );
    void result.finally(() => {
      this.live.delete(task.jobId);
      this.threadOf.delete(task.jobId);
      this.earlyStops.delete(task.jobId);
      this.pendingKills.delete(task.jobId);
      clearTimeout(deadlineTimer);
      if (killTimer) clearTimeout(killTimer);
    });
    return {
      result,
      stop: (kind, reason) => {
        if (!this.live.has(task.jobId)) return;
        const control: PoolControl = { jobId: task.jobId, type: kind, reason };
        if (!this.threadOf.has(task.jobId)) this.earlyStops.set(task.jobId, control);
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
