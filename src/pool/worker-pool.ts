import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { toPlainError } from '../core/errors.js';
import { threadEntry } from '../core/thread-entry.js';
import type { PoolBatch, PoolOutcome, PoolPortMessage, PoolReport, PoolStop, PoolTask } from './protocol.js';

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

/** A task from `run` until its outcome is known. */
interface Entry {
  task: PoolTask;
  resolve: (outcome: PoolOutcome) => void;
  batch: Batch | null;
  settled: boolean;
  /** Set when the pool terminated the task's thread after a stop or its deadline went unheeded. */
  forced: { outcome: 'TIMEOUT' | 'CANCELLED'; reason: string } | null;
  killTimer: NodeJS.Timeout | null;
  deadlineTimer: NodeJS.Timeout;
}

/** One Piscina task: the entries sent to one thread together. */
interface Batch {
  id: number;
  entries: Map<string, Entry>;
  /** Known once the thread reports it took the batch. */
  threadId: number | null;
  /** Stops sent before the thread was known: posted to it when it is. */
  early: PoolStop[];
  /** Its thread is to be terminated as soon as it is known. */
  killWhenStarted: boolean;
  /** Its Piscina task settled. */
  ended: boolean;
}

/**
 * Runs tasks on Piscina worker threads; guarantees a stop within the grace period, even of a hung runner.
 * Tasks handed over in one event-loop turn travel to the threads as batches (a Piscina task each, spread over
 * the threads), and each thread reports results on a port of its own, a message per turn of its event loop,
 * not a message per task.
 */
export class WorkerPool {
  private readonly piscina: Piscina;
  private readonly graceMs: number;
  private readonly threadCount: number;
  /** Each live thread's report port. */
  private readonly ports = new Map<number, MessagePort>();
  private readonly batches = new Map<number, Batch>();
  private readonly live = new Map<string, Entry>();
  private nextBatch = 1;
  private queued: Entry[] = [];
  private flushScheduled = false;
  readonly capacity: number;

  constructor(options: WorkerPoolOptions = {}) {
    const threads = options.threads ?? availableParallelism();
    const perThread = options.tasksPerThread ?? 16;
    this.graceMs = options.graceMs ?? 500;
    this.threadCount = threads;
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
      // A batch holds at least one task, so no more batches than tasks are ever out: none waits in Piscina's queue.
      concurrentTasksPerWorker: perThread,
      idleTimeout: Number.POSITIVE_INFINITY,
      // Runners are asynchronous (timers, sockets, child processes): 'sync' atomics would freeze a thread's
      // event loop between tasks and stall the tasks still running on it.
      atomics: 'disabled',
      ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
    });
    this.piscina.on('message', (message: PoolPortMessage) => {
      if (message?.type === 'troupe:pool-port') this.adopt(message.threadId, message.port);
    });
  }

  get threads(): number {
    return this.piscina.threads.length;
  }

  run(task: PoolTask): RunningTask {
    let resolve!: (outcome: PoolOutcome) => void;
    const result = new Promise<PoolOutcome>((r) => (resolve = r));
    const entry: Entry = {
      task,
      resolve,
      batch: null,
      settled: false,
      forced: null,
      killTimer: null,
      deadlineTimer: setTimeout(() => this.force(entry, 'TIMEOUT', 'run deadline passed'), Math.max(0, task.deadlineAt - Date.now())),
    };
    this.live.set(task.jobId, entry);
    this.queued.push(entry);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    return {
      result,
      stop: (kind, reason) => {
        if (entry.settled) return;
        const batch = entry.batch;
        // Not handed to a thread yet: it never will be.
        if (!batch) return this.settle(entry, { outcome: 'CANCELLED', reason, steps: [] });
        const stop: PoolStop = { jobId: task.jobId, kind, reason };
        const port = batch.threadId === null ? undefined : this.ports.get(batch.threadId);
        if (port) port.postMessage(stop);
        else batch.early.push(stop);
        this.force(entry, 'CANCELLED', reason);
      },
    };
  }

  /** A thread's report port: results and `started` of every batch it runs come in on it. */
  private adopt(threadId: number, port: MessagePort): void {
    this.ports.set(threadId, port);
    port.on('message', (report: PoolReport) => this.report(threadId, report));
    port.on('close', () => this.ports.delete(threadId));
    port.unref();
  }

  /** Hands what was queued in this turn to the threads: one batch per thread at most. */
  private flush(): void {
    this.flushScheduled = false;
    // A task stopped before it was handed over is already settled: it never reaches a thread.
    const entries = this.queued.filter((e) => !e.settled);
    this.queued = [];
    const chunks = Math.min(this.threadCount, entries.length);
    for (let c = 0; c < chunks; c++) {
      const chunk: Entry[] = [];
      for (let i = c; i < entries.length; i += chunks) chunk.push(entries[i] as Entry);
      this.send(chunk);
    }
  }

  private send(chunk: Entry[]): void {
    const batch: Batch = { id: this.nextBatch++, entries: new Map(), threadId: null, early: [], killWhenStarted: false, ended: false };
    const tasks: PoolTask[] = [];
    for (const entry of chunk) {
      entry.batch = batch;
      batch.entries.set(entry.task.jobId, entry);
      tasks.push(entry.task);
    }
    this.batches.set(batch.id, batch);
    (this.piscina.run({ id: batch.id, tasks } satisfies PoolBatch) as Promise<void>).then(
      () => this.ended(batch, null),
      (err: unknown) => this.ended(batch, err),
    );
  }

  private report(threadId: number, report: PoolReport): void {
    if (report.type === 'started') {
      const batch = this.batches.get(report.batch);
      if (!batch) return;
      batch.threadId = threadId;
      const port = this.ports.get(threadId);
      for (const stop of batch.early) port?.postMessage(stop);
      batch.early = [];
      // Its grace ran out before its thread was known: the stop gets one more grace, then the thread goes.
      if (batch.killWhenStarted) {
        setTimeout(() => {
          if (batch.entries.size > 0) this.killThread(batch);
        }, this.graceMs).unref();
      }
      return;
    }
    for (const [jobId, outcome] of report.results) {
      const entry = this.live.get(jobId);
      if (entry) this.settle(entry, outcome);
    }
  }

  /**
   * A batch's Piscina task settled. Its thread posted every result before that, on the thread's port — another
   * channel, so they may not have been read yet: reports waiting on the ports are read now. A thread's port itself
   * may still be on its way (it is announced on Piscina's channel, unordered with task responses): results of a
   * batch that finished normally are then left to arrive. When the thread failed, a task without a result failed
   * with it.
   */
  private ended(batch: Batch, err: unknown): void {
    batch.ended = true;
    this.batches.delete(batch.id);
    for (const [threadId, port] of this.ports) {
      for (let message = receiveMessageOnPort(port); message; message = receiveMessageOnPort(port)) {
        this.report(threadId, message.message as PoolReport);
      }
    }
    if (err === null) return;
    for (const entry of [...batch.entries.values()]) {
      if (entry.forced) {
        this.settle(entry, { outcome: entry.forced.outcome, reason: entry.forced.reason, steps: [] });
        continue;
      }
      const error = toPlainError(err, 'WORKER_LOST');
      this.settle(entry, { outcome: 'ERROR', reason: `worker thread failed: ${error.message}`, error, steps: [] });
    }
  }

  private settle(entry: Entry, outcome: PoolOutcome): void {
    if (entry.settled) return;
    entry.settled = true;
    this.live.delete(entry.task.jobId);
    entry.batch?.entries.delete(entry.task.jobId);
    clearTimeout(entry.deadlineTimer);
    if (entry.killTimer) clearTimeout(entry.killTimer);
    entry.resolve(outcome);
  }

  /** A stop or the deadline: the runner gets the grace period, then its thread is terminated. */
  private force(entry: Entry, outcome: 'TIMEOUT' | 'CANCELLED', reason: string): void {
    if (entry.killTimer || entry.settled) return;
    entry.killTimer = setTimeout(() => {
      const batch = entry.batch;
      if (entry.settled || !batch) return;
      entry.forced = { outcome, reason: `${reason} (runner did not stop within ${this.graceMs} ms; its thread was terminated)` };
      // Its thread finished the batch, yet its result never came: nothing is left to stop.
      if (batch.ended) return this.settle(entry, { outcome, reason: `${reason} (its thread finished without reporting it)`, steps: [] });
      // No thread known yet (its `started` is still on the way): terminate it when it reports, rather than never.
      if (!this.killThread(batch)) batch.killWhenStarted = true;
    }, this.graceMs);
  }

  /**
   * Terminates the thread running `batch`. Piscina replaces it; other tasks on that thread fail with a thread
   * error (ERROR, retried by default). Piscina's own per-task abort signal is not used: it makes a thread run
   * one task at a time.
   */
  private killThread(batch: Batch): boolean {
    const id = batch.threadId;
    const thread = id === null ? undefined : this.piscina.threads.find((t) => t.threadId === id);
    if (!thread) return false;
    void thread.terminate();
    return true;
  }

  async close(): Promise<void> {
    await this.piscina.destroy();
  }
}
