import { setImmediate as nextTurn } from 'node:timers/promises';
import type { TemplatedApp } from 'uWebSockets.js';
import type { Logger } from '../../core/log.js';
import type { LogEntry, Store } from '../../store/store.port.js';
import { BROADCAST_KEY, eventJson, eventMessage, topicsOf } from './protocol.js';

/** An entry of the log (transition or step event) and the owner of its execution (undefined if it is gone). */
export interface OwnedEntry {
  event: LogEntry;
  owner: string | undefined;
}

export interface LiveHubOptions {
  store: Store;
  app: TemplatedApp;
  logger: Logger;
  /** Events read from the log per store call. */
  batchSize: number;
  /** Execution owners remembered (for `user:` topics). */
  ownerCacheSize: number;
  /** The owner of an execution the engine holds live, without a store read (undefined when not held). */
  ownerOf?: (executionId: string) => string | undefined;
  /** Called after every published batch, in the same tick (the slow-consumer check). */
  afterBatch: () => void;
}


/**
 * The single pump from the store's global event log to uWebSockets.js topics. Bus signals only say "read
 * again"; what is published, and in which order, is the log's. `cursor` advances in the same tick as the
 * publish of the event carrying it, so a subscriber that joins between two ticks has neither gap nor duplicate.
 */
export class LiveHub {
  private published: number;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private readonly owners = new Map<string, string>();

  private constructor(
    private readonly options: LiveHubOptions,
    start: number,
  ) {
    this.published = start;
  }

  /** A hub that publishes what is written from now on. */
  static async start(options: LiveHubOptions): Promise<LiveHub> {
    return new LiveHub(options, await options.store.latestCursor());
  }

  /** The newest cursor published. */
  get cursor(): number {
    return this.published;
  }

  /** Something was written: read the log again. Signals coalesce; one pump runs at a time. */
  signal(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pump().finally(() => {
      this.running = null;
    });
  }

  /** Resolves when everything in the log at the time of the call is published. */
  async catchUp(): Promise<void> {
    this.signal();
    while (this.running) await this.running;
  }

  /** Up to one batch of log entries after `cursor`, each with the owner of its execution (for `user:` topics). */
  async read(cursor: number): Promise<OwnedEntry[]> {
    const events = await this.options.store.logSince(cursor, this.options.batchSize);
    const owners = await this.ownersOf(events);
    return events.map((event) => ({ event, owner: owners.get(event.executionId) }));
  }

  rememberOwner(executionId: string, owner: string): void {
    if (this.owners.has(executionId)) return;
    this.owners.set(executionId, owner);
    if (this.owners.size > this.options.ownerCacheSize) {
      const oldest = this.owners.keys().next();
      if (!oldest.done) this.owners.delete(oldest.value);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    while (this.running) await this.running;
  }

  private async pump(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.publishNewEvents();
      } catch (err) {
        // The next signal or heartbeat tries again from the same cursor: nothing is skipped.
        this.options.logger.error({ err }, 'live channel: reading the event log failed');
        return;
      }
    } while (this.again && !this.stopped);
  }

  private async publishNewEvents(): Promise<void> {
    const { app, batchSize, afterBatch } = this.options;
    if (app.numSubscribers(BROADCAST_KEY) === 0) {
      // Nobody is connected (every socket joins BROADCAST_KEY when it opens): nothing to read the log for. A
      // socket that connects later replays from the store up to this cursor before it subscribes. The check is
      // repeated after the await, in the same tick as the jump: a socket that opened meanwhile may be replaying
      // up to the old cursor, and the events after it must then be published, not skipped.
      const latest = await this.options.store.latestCursor();
      if (app.numSubscribers(BROADCAST_KEY) === 0) {
        this.published = Math.max(this.published, latest);
        return;
      }
    }
    for (;;) {
      const entries = await this.read(this.published);
      if (this.stopped || entries.length === 0) return;
      for (const { event: e, owner } of entries) {
        let json: string | undefined;
        for (const t of topicsOf(e, owner)) {
          if (app.numSubscribers(t.key) === 0) continue;
          json ??= eventJson(e);
          app.publish(t.key, eventMessage(t.name, e.cursor, json));
        }
        this.published = e.cursor;
      }
      afterBatch();
      if (entries.length < batchSize) return;
      // Let uWebSockets.js write what was published before reading the next batch.
      await nextTurn();
    }
  }

  /** The owners of the events' executions, from the cache or the store. */
  private async ownersOf(events: LogEntry[]): Promise<Map<string, string>> {
    const owners = new Map<string, string>();
    const missing = new Set<string>();
    for (const e of events) {
      const owner = this.owners.get(e.executionId) ?? this.options.ownerOf?.(e.executionId);
      if (owner === undefined) missing.add(e.executionId);
      else owners.set(e.executionId, owner);
    }
    const found = await Promise.all([...missing].map((id) => this.options.store.getExecution(id)));
    for (const execution of found) {
      if (!execution) continue;
      owners.set(execution.id, execution.owner);
      this.rememberOwner(execution.id, execution.owner);
    }
    return owners;
  }
}
