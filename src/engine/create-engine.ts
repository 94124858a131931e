import { hostname } from 'node:os';
import { join } from 'node:path';
import { JetStreamBus } from '../bus/jetstream.bus.js';
import { MemoryBus } from '../bus/memory.bus.js';
import type { Bus } from '../bus/bus.port.js';
import { TroupeError } from '../core/errors.js';
import { parseLabels } from '../core/routing.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { Config } from '../core/config.js';
import type { Logger } from '../core/log.js';
import { WorkerPool, type WorkerPoolOptions } from '../pool/worker-pool.js';
import { definitionsFor, runnerTypes } from '../runners/registry.js';
import { SqliteStore } from '../store/sqlite.store.js';
import type { Store } from '../store/store.port.js';
import { WorkerNode } from '../worker/worker-node.js';
import { AgentDirectory } from './agents.js';
import { Coordinator } from './coordinator.js';

export interface Engine {
  coordinator: Coordinator;
  store: Store;
  bus: Bus;
  pool: WorkerPool | null;
  agents: AgentDirectory;
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

/** Whether NATS credentials are configured (AGENT_AUTHENTICATION_REQUIRED insists on them). */
function natsCredentialsGiven(config: Config): boolean {
  return Boolean(config.NATS_CREDS ?? config.NATS_TOKEN ?? (config.NATS_USER && config.NATS_PASSWORD));
}

/** The bus of the configuration: JetStream with NATS_URL (distributed mode), else in-process. */
export async function openBus(config: Config, name: string, options: { manageStreams?: boolean } = {}): Promise<Bus> {
  if (config.NATS_URL === undefined) return new MemoryBus();
  if (config.AGENT_AUTHENTICATION_REQUIRED && !natsCredentialsGiven(config)) {
    throw new TroupeError(
      'CONFIG_INVALID',
      'AGENT_AUTHENTICATION_REQUIRED is set: give NATS credentials (NATS_CREDS, NATS_USER and NATS_PASSWORD, or NATS_TOKEN; see docs/nats.md)',
    );
  }
  try {
    return await JetStreamBus.connect({
      servers: config.NATS_URL,
      name,
      ackWaitMs: config.TROUPE_ACK_WAIT_SECONDS * 1000,
      maxDeliver: config.TROUPE_MAX_DELIVER,
      ...(options.manageStreams === undefined ? {} : { manageStreams: options.manageStreams }),
      ...(config.NATS_CREDS === undefined ? {} : { credsFile: config.NATS_CREDS }),
      ...(config.NATS_USER === undefined ? {} : { user: config.NATS_USER }),
      ...(config.NATS_PASSWORD === undefined ? {} : { pass: config.NATS_PASSWORD }),
      ...(config.NATS_TOKEN === undefined ? {} : { token: config.NATS_TOKEN }),
    });
  } catch (err) {
    throw new TroupeError('BUS_UNAVAILABLE', `cannot connect to NATS at ${config.NATS_URL}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** How often a worker extends the leases of its running jobs: three times per ack wait, at most every 5 s. */
export function leaseRefreshMs(config: Config): number {
  return Math.min(5000, Math.max(100, Math.floor((config.TROUPE_ACK_WAIT_SECONDS * 1000) / 3)));
}

/** This process's agent id: TROUPE_AGENT_ID, else host and pid. */
export function agentIdOf(config: Config): string {
  return config.TROUPE_AGENT_ID ?? `${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
}

/**
 * The composition root. Embedded mode: SQLite store, in-process bus, local Piscina pool, coordinator. With
 * NATS_URL the bus is JetStream and the local pool is one agent among any number of `troupe worker`s.
 */
export async function createEngine(config: Config, logger: Logger, overrides: EngineOverrides = {}): Promise<Engine> {
  const store =
    overrides.store ??
    new SqliteStore({
      file: join(config.TROUPE_DATA_DIR, 'troupe.db'),
      synchronous: config.TROUPE_STORE_SYNC,
      maxBatch: config.QUEUE_BATCH_SIZE,
    });
  const bus = overrides.bus ?? (await openBus(config, 'troupe-coordinator'));
  const pool =
    overrides.pool === false
      ? null
      : new WorkerPool({ ...(config.QUEUE_WORKER_COUNT ? { threads: config.QUEUE_WORKER_COUNT } : {}), ...overrides.pool });
  const worker = pool
    ? new WorkerNode({
        bus,
        pool,
        logger: logger.child({ component: 'worker' }),
        agentId: agentIdOf(config),
        poolName: config.TROUPE_POOL,
        labels: parseLabels(config.TROUPE_AGENT_LABELS ?? ''),
        runners: runnerTypes(),
        heartbeatMs: config.HEALTH_CHECK_INTERVAL * 1000,
        // In-progress acks well within the ack wait, so a slow test is never redelivered.
        leaseRefreshMs: leaseRefreshMs(config),
      })
    : null;
  const agents = new AgentDirectory(bus, config.HEALTH_CHECK_INTERVAL * 1000);
  const coordinator = new Coordinator({
    store,
    bus,
    clock: overrides.clock ?? systemClock,
    logger: logger.child({ component: 'coordinator' }),
    // MANUAL items are run by the engine itself (pauses for verdicts), not by a worker.
    runnable: definitionsFor([...runnerTypes(), 'MANUAL']),
    execEnabled: config.TROUPE_EXEC_ENABLED,
    pool: config.TROUPE_POOL,
    maxConcurrent: config.EXECUTION_MAX_CONCURRENT_JOBS,
    maxQueueSize: config.QUEUE_MAX_QUEUE_SIZE,
    agingMs: config.QUEUE_AGING_SECONDS * 1000,
    orderByDuration: config.QUEUE_ORDER_BY_DURATION,
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
    agents,
    close: async () => {
      await coordinator.stop();
      await worker?.stop({ abort: true });
      agents.close();
      await pool?.close();
      await bus.close();
      await store.close();
    },
  };
}
