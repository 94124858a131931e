import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../src/core/config.js';
import { createLogger, type Logger } from '../src/core/log.js';
import { createEngine, type Engine } from '../src/engine/create-engine.js';

export interface ServiceEngine {
  engine: Engine;
  config: Config;
  logger: Logger;
  /** Closes the engine and removes its data dir. */
  close(): Promise<void>;
}

/**
 * The engine the service benchmarks run behind: a fresh data dir, limits high enough never to refuse, and the
 * product's durability unless TROUPE_STORE_SYNC is set (so levels can be compared).
 */
export async function startServiceEngine(prefix: string): Promise<ServiceEngine> {
  const dataDir = await mkdtemp(join(tmpdir(), prefix));
  const config = loadConfig({
    TROUPE_DATA_DIR: dataDir,
    API_RATE_LIMIT_PER_MINUTE: '10000000',
    QUEUE_MAX_QUEUE_SIZE: '10000000',
    LOGGING_LEVEL: 'warn',
    TROUPE_STORE_SYNC: process.env.TROUPE_STORE_SYNC,
  });
  const logger = createLogger(config.LOGGING_LEVEL);
  const engine = await createEngine(config, logger);
  return {
    engine,
    config,
    logger,
    close: async () => {
      await engine.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
