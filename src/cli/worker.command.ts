import { loadConfig } from '../core/config.js';
import { TroupeError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { parseLabels } from '../core/routing.js';
import { agentIdOf, leaseRefreshMs, openBus } from '../engine/create-engine.js';
import { WorkerPool } from '../pool/worker-pool.js';
import { runnerTypes } from '../runners/registry.js';
import { WorkerNode } from '../worker/worker-node.js';
import { nextStopSignal } from './signals.js';

export interface WorkerCommandOptions {
  labels?: string;
  threads?: string;
  pool?: string;
  drain?: string;
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new TroupeError('VALIDATION_FAILED', `${flag} must be a whole number of at least 1, got "${value}"`);
  return n;
}

/**
 * `troupe worker`: an agent of distributed mode. Pulls jobs from JetStream into a local Piscina pool, never
 * more than it has free slots; announces itself with heartbeats; on SIGTERM/SIGINT stops pulling, lets
 * running jobs finish for the drain period and hands the rest back to the bus.
 */
export async function workerCommand(options: WorkerCommandOptions): Promise<number> {
  const config = loadConfig({
    ...process.env,
    ...(options.labels === undefined ? {} : { TROUPE_AGENT_LABELS: options.labels }),
    ...(options.pool === undefined ? {} : { TROUPE_POOL: options.pool }),
    ...(options.threads === undefined ? {} : { QUEUE_WORKER_COUNT: options.threads }),
  });
  if (config.NATS_URL === undefined) {
    throw new TroupeError('CONFIG_INVALID', 'troupe worker needs NATS_URL: workers take their jobs from NATS JetStream');
  }
  const drainMs = options.drain === undefined ? 30_000 : positiveInt(options.drain, '--drain') * 1000;
  const logger = createLogger(config.LOGGING_LEVEL);
  const agentId = agentIdOf(config);
  const bus = await openBus(config, `troupe-worker-${agentId}`, { manageStreams: false });
  const pool = new WorkerPool({ ...(config.QUEUE_WORKER_COUNT ? { threads: config.QUEUE_WORKER_COUNT } : {}) });
  const labels = parseLabels(config.TROUPE_AGENT_LABELS ?? '');
  const node = new WorkerNode({
    bus,
    pool,
    logger: logger.child({ component: 'worker', agentId }),
    agentId,
    poolName: config.TROUPE_POOL,
    labels,
    runners: runnerTypes(),
    heartbeatMs: config.HEALTH_CHECK_INTERVAL * 1000,
    // In-progress acks well within the ack wait, so a slow test is never redelivered.
    leaseRefreshMs: leaseRefreshMs(config),
  });
  node.start();
  await node.refresh();
  // Listening before the ready line: a SIGTERM sent as soon as it is read must stop this process cleanly.
  const stopped = nextStopSignal();
  process.stdout.write(
    `troupe worker ${agentId}: ${pool.capacity} slots, pools ${node.pools.join(', ')}, labels ${JSON.stringify(labels)}\n`,
  );
  const signal = await stopped;
  logger.info({ signal, running: node.running }, 'leaving');
  await node.stop({ drainMs });
  await pool.close();
  await bus.close();
  return 0;
}
