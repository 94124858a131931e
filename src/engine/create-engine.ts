import { hostname } from 'node:os';
import { join } from 'node:path';
import { MemoryBus } from '../bus/memory.bus.js';
import type { Bus } from '../bus/bus.port.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { Config } from '../core/config.js';
import type { Logger } from '../core/log.js';
import { WorkerPool, type WorkerPoolOptions } from '../pool/worker-pool.js';
import { runnerTypes } from '../runners/registry.js';
import { SqliteStore } from '../store/sqlite.store.js';
import type { Store } from '../store/store.port.js';
import { WorkerNode } from '../worker/worker-node.js';
import { Coordinator } from './coordinator.js';

export interface Engine {
  coordinator: Coordinator;
  store: Store;
  bus: Bus;
  pool: WorkerPool | null;
  close(): Promise<void>;
}

export interface EngineOverrides {
  clock?: Clock;
  store?: Store;
  bus?: Bus;
  /** Options for the local pool, or false for an engine without one. */
  pool?: WorkerPoolOptions | false;
  watchdogGraceMs?: number;
}

/** The composition root of embedded mode: SQLite store, in-process bus, local Piscina pool, coordinator. */
export async function createEngine(config: Config, logger: Logger, overrides: EngineOverrides = {}): Promise<Engine> {
  const store =
    overrides.store ??
    new SqliteStore({
      file: join(config.TROUPE_DATA_DIR, 'troupe.db'),
      synchronous: config.TROUPE_STORE_SYNC,
      maxBatch: config.QUEUE_BATCH_SIZE,
    });
  const bus = overrides.bus ?? new MemoryBus();
  const pool =
    overrides.pool === false
      ? null
      : new WorkerPool({ ...(config.QUEUE_WORKER_COUNT ? { threads: config.QUEUE_WORKER_COUNT } : {}), ...overrides.pool });
  const worker = pool
    ? new WorkerNode({ bus, pool, logger: logger.child({ component: 'worker' }), agentId: `${hostname()}-${process.pid}` })
    : null;
  const coordinator = new Coordinator({
    store,
    bus,
    clock: overrides.clock ?? systemClock,
    logger: logger.child({ component: 'coordinator' }),
    runnable: runnerTypes(),
    maxConcurrent: config.EXECUTION_MAX_CONCURRENT_JOBS,
    maxQueueSize: config.QUEUE_MAX_QUEUE_SIZE,
    agingMs: config.QUEUE_AGING_SECONDS * 1000,
    defaultTimeoutMs: config.EXECUTION_DEFAULT_TIMEOUT_MINUTES * 60_000,
    defaultRetry: {
      maxAttempts: config.EXECUTION_RETRY_MAX_ATTEMPTS,
      delayMs: config.EXECUTION_RETRY_DELAY_SECONDS * 1000,
    },
    ...(overrides.watchdogGraceMs === undefined ? {} : { watchdogGraceMs: overrides.watchdogGraceMs }),
  });
  worker?.start();
  await coordinator.start();
  return {
    coordinator,
    store,
    bus,
    pool,
    close: async () => {
      await coordinator.stop();
      await worker?.stop({ abort: true });
      await pool?.close();
      await bus.close();
      await store.close();
    },
  };
}
