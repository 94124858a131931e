import uWS, { type TemplatedApp, type us_listen_socket } from 'uWebSockets.js';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../core/config.js';
import { TroupeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Engine } from '../engine/create-engine.js';
import type { Api } from './api-context.js';
import { Authenticator } from './auth.js';
import { errorReply, route, send, type Handler, type RouteRegistrar } from './http-kit.js';
import { startLiveChannel, type LiveOptions } from './live/channel.js';
import { Metrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import { RateLimiter } from './rate-limit.js';
import { JetStreamBus } from '../bus/jetstream.bus.js';
import { startNatsSubmit } from '../service/nats-submit.js';
import { adminRoutes } from './routes/admin.routes.js';
import { agentRoutes } from './routes/agents.routes.js';
import { catalogRoutes } from './routes/catalog.routes.js';
import { executionRoutes } from './routes/executions.routes.js';
import { runRoutes } from './routes/runs.routes.js';
import { dashboardRoutes, loadDashboard } from './dashboard.js';
import { hookRoutes } from './routes/hooks.routes.js';
import { triggerRoutes } from './routes/triggers.routes.js';
import { Notifier } from '../engine/notifier.js';
import { TriggerRuns } from '../engine/triggers.js';
import { systemClock } from '../core/clock.js';

export interface ServerOptions {
  engine: Engine;
  config: Config;
  logger: Logger;
  /** Port to listen on; 0 picks a free one (read it back from `port`). */
  port: number;
  host?: string;
  /** Tuning of the live channel `/v1/live`. */
  live?: LiveOptions;
}

export interface Server {
  readonly port: number;
  readonly app: TemplatedApp;
  readonly api: Api;
  readonly metrics: Metrics;
  /** Every route served, as registered (`:id` for a path parameter); the live channel is `GET /v1/live`. */
  readonly routes: readonly { method: string; pattern: string }[];
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes the listen socket. */
  close(graceMs?: number): Promise<void>;
}

/** The package version, from the nearest package.json above this module (src/ under tests, dist/src/ built). */
function packageVersion(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return '0.0.0';
}

const VERSION = packageVersion();

/** The HTTP API on uWebSockets.js over an engine. */
export async function startServer(options: ServerOptions): Promise<Server> {
  const { engine, config, logger } = options;
  const auth = await Authenticator.create({
    store: engine.store,
    audience: config.TROUPE_JWT_AUDIENCE,
    ...(config.TROUPE_JWT_SECRET ? { secret: config.TROUPE_JWT_SECRET } : {}),
    ...(config.TROUPE_JWT_PUBLIC_KEY ? { publicKey: config.TROUPE_JWT_PUBLIC_KEY } : {}),
    ...(config.TROUPE_JWT_JWKS_URL ? { jwksUrl: config.TROUPE_JWT_JWKS_URL } : {}),
  });
  const limiter = new RateLimiter(config.API_RATE_LIMIT_PER_MINUTE);
  const sweep = setInterval(() => limiter.sweep(), 60_000);
  sweep.unref();
  // Run notifications are sent by the serving process only (an in-process `troupe run` on the same data dir does not).
  const notifier = new Notifier({
    store: engine.store,
    coordinator: engine.coordinator,
    logger: logger.child({ component: 'notifier' }),
    maxAttempts: config.TROUPE_NOTIFY_MAX_ATTEMPTS,
    backoffMs: config.TROUPE_NOTIFY_BACKOFF_MS,
    allowPrivateAddresses: config.TROUPE_NOTIFY_PRIVATE_ADDRESSES,
  });
  await notifier.start();
  const hooks = new TriggerRuns({ store: engine.store, coordinator: engine.coordinator, notifier, clock: systemClock, logger });
  const api: Api = { coordinator: engine.coordinator, agents: engine.agents, store: engine.store, auth, limiter, logger, config, hooks };
  const metrics = new Metrics(engine.coordinator, engine.bus);
  const stopRunMetrics = engine.coordinator.onRunFinished((run) =>
    metrics.runDuration.observe({ status: run.status }, Math.max(0, run.finishedAt - run.createdAt) / 1000),
  );
  const app = uWS.App();
  let inFlight = 0;
  let draining = false;
  const routes: { method: string; pattern: string }[] = [];
  const register: RouteRegistrar = (method, pattern, params, handler, extras) => {
    routes.push({ method: method === 'del' ? 'DELETE' : method.toUpperCase(), pattern });
    // While draining, every answer closes its connection: a client's keep-alive connection (a dashboard polling
    // through it) would otherwise keep the process alive after the listen socket is closed.
    const counted: Handler = async (ctx) => {
      if (draining) return { ...errorReply(new TroupeError('ENGINE_STOPPED', 'the server is shutting down'), logger), close: true };
      inFlight++;
      try {
        const reply = await handler(ctx);
        return draining ? { ...reply, close: true } : reply;
      } finally {
        inFlight--;
      }
    };
    route(app, method, pattern, params, counted, {
      maxBodyBytes: config.TROUPE_MAX_BODY_BYTES,
      logger,
      ...(config.METRICS_ENABLED
        ? { observe: (r, m, status, seconds) => metrics.observeRequest(r, m, status, seconds) }
        : {}),
    }, extras);
  };

  executionRoutes(api, register);
  runRoutes(api, register);
  adminRoutes(api, register);
  catalogRoutes(api, register);
  agentRoutes(api, register);
  triggerRoutes(api, register);
  hookRoutes(api, register);
  dashboardRoutes(loadDashboard(), register);
  if (!api.config.WEBHOOK_SIGNATURE_VALIDATION && (api.config.TROUPE_GITHUB_WEBHOOK_SECRET !== undefined || api.config.TROUPE_GITLAB_WEBHOOK_TOKEN !== undefined)) {
    logger.warn('WEBHOOK_SIGNATURE_VALIDATION=false: webhook deliveries are accepted without checking their signature or token');
  }
  register('get', '/healthz', 0, () => ({ status: 200, body: { status: 'ok' } }));
  register('get', '/readyz', 0, async () => {
    const failure = engine.store.failure();
    const [store, bus] = await Promise.allSettled([
      // A store that reads but can no longer write is not ready either.
      failure ? Promise.reject(failure) : engine.store.getExecution('exe_00000000000000000000000000'),
      engine.bus.ping(2000),
    ]);
    if (store.status === 'fulfilled' && bus.status === 'fulfilled') {
      return { status: 200, body: { status: 'ready', store: engine.store.kind, bus: engine.bus.kind } };
    }
    logger.warn({ store: store.status, bus: bus.status }, 'readiness check failed');
    return {
      status: 503,
      body: {
        status: 'not ready',
        store: store.status === 'fulfilled' ? engine.store.kind : 'unreachable',
        bus: bus.status === 'fulfilled' ? engine.bus.kind : 'unreachable',
      },
    };
  });
  const openapi = openApiDocument(VERSION);
  register('get', '/openapi.json', 0, () => ({ status: 200, body: openapi }));
  if (config.METRICS_ENABLED) {
    register('get', '/metrics', 0, async () => ({
      status: 200,
      text: await metrics.registry.metrics(),
      contentType: metrics.registry.contentType,
    }));
  }
  const natsSubmit =
    engine.bus instanceof JetStreamBus
      ? startNatsSubmit({
          connection: engine.bus.connection,
          prefix: engine.bus.prefix,
          coordinator: engine.coordinator,
          authenticate: (authorization) => auth.authenticate(authorization),
          limit: (principalId) => limiter.take(principalId),
          logger,
        })
      : null;
  const live = await startLiveChannel({ app, api, bus: engine.bus, metrics }, options.live);
  if (config.WEBSOCKET_ENABLED) routes.push({ method: 'GET', pattern: '/v1/live' });
  app.any('/*', (res, req) => {
    const reply = errorReply(new TroupeError('NOT_FOUND', `no route ${req.getMethod().toUpperCase()} ${req.getUrl()}`), logger);
    send(res, reply, () => false);
  });

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(options.host ?? '0.0.0.0', options.port, (socket) => {
      if (socket) resolve(socket);
      else reject(new Error(`could not listen on port ${options.port}`));
    });
  });
  const port = uWS.us_socket_local_port(listenSocket);
  logger.info({ port }, 'listening');

  return {
    port,
    app,
    api,
    metrics,
    routes,
    async close(graceMs = 10_000) {
      draining = true;
      natsSubmit?.unsubscribe();
      uWS.us_listen_socket_close(listenSocket);
      await live.close();
      const deadline = Date.now() + graceMs;
      while (inFlight > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      clearInterval(sweep);
      await notifier.stop();
      stopRunMetrics();
      metrics.close();
    },
  };
}
