import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { threadEntry } from '../../core/thread-entry.js';
import type { WriteOp, WriteResult, WriteValue, WriterConfig, WriterReply, WriterRequest } from './ops.js';

interface Waiter {
  resolve: (value: WriteValue) => void;
  reject: (err: Error) => void;
}

/** A write the writer thread refused: the message and SQLite's code (`SQLITE_CONSTRAINT_UNIQUE`, …). */
export class StoreWriteError extends Error {
  override readonly name = 'StoreWriteError';
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/**
 * The main thread's side of the writer thread. Writes made in one event-loop turn travel as one message; the
 * thread commits what has arrived together and answers each write once it is durable. Nothing here waits: the
 * event loop goes on accepting and scheduling while a commit (and its fsync) is in flight.
 */
export class WriterClient {
  private worker: Worker | null = null;
  private ops: WriteOp[] = [];
  private waiters: Waiter[] = [];
  private readonly inFlight = new Map<number, Waiter[]>();
  private nextId = 1;
  private scheduled = false;
  /** flush() calls waiting for every batch up to `upTo` to be answered. */
  private barriers: { upTo: number; resolve: () => void }[] = [];
  private failure: Error | null = null;
  private closing: Promise<void> | null = null;
  private exited = false;

  constructor(private readonly config: WriterConfig) {}

  /** Why the writer stopped taking writes for good, or null. */
  get failed(): Error | null {
    return this.failure;
  }

  write(op: WriteOp): Promise<WriteValue> {
    if (this.closing) return Promise.reject(new StoreWriteError('the store is closed'));
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.ops.push(op);
      this.waiters.push({ resolve, reject });
      // A run's rows go at once (with what was queued before them): the thread inserts them while this one goes
      // on building the run's actors.
      if (this.ops.length >= this.config.maxBatch || op.k === 'run') this.send();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.send());
      }
    });
  }

  /**
   * Resolves once every write accepted so far is durable (or has failed). A barrier: writes made after the call
   * do not hold it up, so it resolves under a steady stream of writes too.
   */
  flush(): Promise<void> {
    if (this.ops.length > 0) this.send();
    const upTo = this.nextId - 1;
    if (this.failure || !this.waitingFor(upTo)) return Promise.resolve();
    return new Promise((resolve) => this.barriers.push({ upTo, resolve }));
  }

  /** Commits what is queued, then stops the thread. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.flush();
      const worker = this.worker;
      if (!worker || this.exited) return;
      worker.ref();
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage({ type: 'close' } satisfies WriterRequest);
      await exited;
    })();
    return this.closing;
  }

  private idle(): boolean {
    return this.ops.length === 0 && this.inFlight.size === 0;
  }

  /** Whether a batch numbered `upTo` or lower is still unanswered (batches are sent and answered in order). */
  private waitingFor(upTo: number): boolean {
    for (const id of this.inFlight.keys()) return id <= upTo;
    return false;
  }

  private start(): Worker {
    const file = threadEntry(import.meta.url, 'writer.thread.js');
    if (!existsSync(file)) throw new StoreWriteError(`the store writer entry ${file} does not exist: run \`npm run build\` first`);
    const worker = new Worker(file, { workerData: this.config });
    worker.on('message', (reply: WriterReply) => {
      if (reply.type === 'done') this.settle(reply.batches);
    });
    worker.on('error', (err) => this.fail(new StoreWriteError(`the store writer failed: ${err.message}`)));
    // After a close too: a write still waiting then (the thread exited before answering it) fails, not hangs.
    worker.on('exit', (code) => {
      this.exited = true;
      this.fail(new StoreWriteError(`the store writer stopped (exit code ${code})`));
    });
    return worker;
  }

  private send(): void {
    this.scheduled = false;
    if (this.ops.length === 0 || this.failure) return;
    let worker = this.worker;
    if (!worker) {
      try {
        worker = this.worker = this.start();
      } catch (err) {
        return this.fail(err instanceof StoreWriteError ? err : new StoreWriteError(`the store writer did not start: ${err instanceof Error ? err.message : String(err)}`));
      }
    }
    const id = this.nextId++;
    const request: WriterRequest = { type: 'batch', id, ops: this.ops };
    this.inFlight.set(id, this.waiters);
    this.ops = [];
    this.waiters = [];
    // Pending writes keep the process alive; an idle writer does not.
    worker.ref();
    worker.postMessage(request);
  }

  private settle(batches: [number, WriteResult[]][]): void {
    for (const [id, results] of batches) {
      const waiters = this.inFlight.get(id);
      if (!waiters) continue;
      this.inFlight.delete(id);
      for (let i = 0; i < waiters.length; i++) {
        const result = results[i];
        const waiter = waiters[i] as Waiter;
        if (result && 'ok' in result) waiter.resolve(result.ok);
        else waiter.reject(new StoreWriteError(result?.err.message ?? 'no result from the store writer', result?.err.code));
      }
    }
    if (this.idle()) this.worker?.unref();
    if (this.barriers.length > 0) {
      const waiting = this.barriers;
      this.barriers = waiting.filter((b) => this.waitingFor(b.upTo));
      for (const b of waiting) if (!this.waitingFor(b.upTo)) b.resolve();
    }
  }

  /** The writer is gone: every write not answered fails, and so does every later one. */
  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    const waiting = [...this.inFlight.values()].flat().concat(this.waiters);
    this.inFlight.clear();
    this.ops = [];
    this.waiters = [];
    for (const waiter of waiting) waiter.reject(err);
    const barriers = this.barriers;
    this.barriers = [];
    for (const b of barriers) b.resolve();
  }
}
