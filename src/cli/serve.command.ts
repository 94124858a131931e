import { loadConfig } from '../core/config.js';
import { createLogger } from '../core/log.js';
import { createEngine } from '../engine/create-engine.js';
import { issueApiKey } from '../http/auth.js';
import { startServer } from '../http/server.js';
import { nextStopSignal } from './signals.js';

export interface ServeOptions {
  workers?: boolean;
}

/**
 * `troupe serve`: the API and live channels over the embedded engine. On the first start with no
 * credentials configured, creates an admin API key and prints it once.
 */
export async function serveCommand(options: ServeOptions): Promise<number> {
  const config = loadConfig();
  const logger = createLogger(config.LOGGING_LEVEL);
  const engine = await createEngine(config, logger, options.workers === false ? { pool: false } : {});
  const jwtConfigured = Boolean(config.TROUPE_JWT_SECRET ?? config.TROUPE_JWT_PUBLIC_KEY ?? config.TROUPE_JWT_JWKS_URL);
  const hasKeys = (await engine.store.listApiKeys()).length > 0;
  const server = await startServer({ engine, config, logger, port: config.PORT });
  // Listening before the ready line: a SIGTERM sent as soon as it is read must stop this process cleanly.
  const stopped = nextStopSignal();
  const base = `http://localhost:${server.port}`;
  if (!jwtConfigured && !hasKeys) {
    const { secret } = await issueApiKey(engine.store, 'admin', 'admin', 'first-start admin key');
    process.stdout.write(
      [
        '',
        'Created an admin API key. It is shown only this once (only its hash is stored):',
        `  ${secret}`,
        '',
        'Submit a run:',
        `  curl -sS -X POST ${base}/v1/runs -H "Authorization: Bearer ${secret}" -H "content-type: application/json" \\`,
        `    -d '{"items":[{"name":"hello","type":"GENERIC","steps":[{"action":"noop"}]}]}'`,
        '',
      ].join('\n'),
    );
  }
  process.stdout.write(`troupe serving on ${base} (data in ${config.TROUPE_DATA_DIR})\n`);
  const signal = await stopped;
  logger.info({ signal }, 'shutting down');
  await server.close();
  await engine.close();
  // Everything is stored and closed. An idle keep-alive connection a client holds open would keep the process
  // alive until uWebSockets.js times it out: the process ends shortly instead (answers already written get 2 s to go out).
  setTimeout(() => process.exit(0), 2000).unref();
  return 0;
}
