import type { HttpResponse, TemplatedApp, WebSocket } from 'uWebSockets.js';
import type { Bus } from '../../bus/bus.port.js';
import { TroupeError } from '../../core/errors.js';
import type { Principal } from '../../engine/principal.js';
import type { Api } from '../api-context.js';
import { errorReply, send } from '../http-kit.js';
import type { Metrics } from '../metrics.js';
import { LiveHub } from './hub.js';
import { BROADCAST_KEY, errorMessage, parseClientMessage } from './protocol.js';
import { LiveSession, type SessionHost } from './session.js';

/** Tuning of the live channel; connection limits and timers come from the WEBSOCKET_* configuration. */
export interface LiveOptions {
  /**
   * How far back, in events, a `since` may reach; an older `since` is answered `{ "op": "reset" }`.
   * @defaultValue 100000
   */
  replayWindow?: number;
  /**
   * The backlog (bytes buffered for a socket) at which a client that does not keep up is closed with 4008.
   * @defaultValue 1048576
   */
  backlogBytes?: number;
  /**
   * Events read from the store per call, by the publishing pump and by replays.
   * @defaultValue 500
   */
  batchSize?: number;
  /**
   * Topics one connection may hold at once.
   * @defaultValue 256
   */
  maxTopicsPerSocket?: number;
  /**
   * Execution owners cached for `user:` topics.
   * @defaultValue 50000
   */
  ownerCacheSize?: number;
}

export interface LiveDeps {
  app: TemplatedApp;
  api: Api;
  bus: Bus;
  metrics: Metrics;
}

export interface LiveChannel {
  /** The newest cursor published (0 when the channel is disabled). */
  readonly cursor: number;
  /** Open sockets. */
  readonly connections: number;
  /** Ends every socket with 1001 and stops publishing. */
  close(): Promise<void>;
}

interface SocketData {
  session: LiveSession;
}

/** The close code for a client whose backlog passed `backlogBytes`. */
export const SLOW_CONSUMER_CODE = 4008;

// uWebSockets.js aborts the process on an idleTimeout outside 8..960 seconds.
const clampIdle = (seconds: number) => Math.min(960, Math.max(8, seconds));

/**
 * The live channel `/v1/live` (SPEC §5): authenticated on upgrade, topics per execution, run and user,
 * replay from a cursor, heartbeats, and a bounded backlog per socket. Registers nothing when WEBSOCKET_ENABLED
 * is false.
 */
export async function startLiveChannel(deps: LiveDeps, options: LiveOptions = {}): Promise<LiveChannel> {
  const { app, api, bus, metrics } = deps;
  const { config, logger } = api;
  if (!config.WEBSOCKET_ENABLED) return { cursor: 0, connections: 0, close: () => Promise.resolve() };
  const backlogBytes = options.backlogBytes ?? 1024 * 1024;
  const batchSize = options.batchSize ?? 500;
  const sockets = new Set<WebSocket<SocketData>>();
  let slots = 0; // open sockets plus upgrades being authenticated
  let closing = false;

  const closeSlow = (ws: WebSocket<SocketData>) => {
    metrics.slowConsumerCloses.inc();
    ws.end(SLOW_CONSUMER_CODE, `slow consumer: backlog over ${backlogBytes} bytes; reconnect with since`);
  };
  const checkBacklogs = () => {
    for (const ws of sockets) if (ws.getBufferedAmount() > backlogBytes) closeSlow(ws);
  };
  let checkQueued = false;
  const hub = await LiveHub.start({
    store: api.store,
    app,
    logger,
    batchSize,
    ownerCacheSize: options.ownerCacheSize ?? 50_000,
    ownerOf: (executionId) => api.coordinator.ownerOf(executionId),
    afterBatch: () => {
      checkBacklogs();
      // Published messages may still sit in uWS's topic tree this tick; look again once they are written.
      if (checkQueued) return;
      checkQueued = true;
      setImmediate(() => {
        checkQueued = false;
        checkBacklogs();
      });
    },
  });
  const host: SessionHost = {
    hub,
    store: api.store,
    logger,
    replayWindow: options.replayWindow ?? 100_000,
    maxTopics: options.maxTopicsPerSocket ?? 256,
    // Replays wait for drain above half the bound, so a replay alone never trips the slow-consumer close.
    replayHighWater: Math.floor(backlogBytes / 2),
    verdict: (executionId, index, body, principal) => {
      if (!principal.roles.includes('runner') && !principal.roles.includes('admin')) {
        return Promise.reject(new TroupeError('FORBIDDEN', 'giving a verdict needs the runner or admin role'));
      }
      return api.coordinator.verdict(executionId, index, body, principal);
    },
  };
  const stopSignals = bus.subscribeTransitions(() => hub.signal());
  const heartbeat = setInterval(() => {
    app.publish(BROADCAST_KEY, JSON.stringify({ op: 'heartbeat', cursor: hub.cursor }));
    hub.signal(); // also picks up anything whose bus signal was lost
    checkBacklogs();
  }, config.WEBSOCKET_HEARTBEAT_INTERVAL * 1000);
  heartbeat.unref();

  const authenticate = async (authorization: string, token: string | null, ip: string): Promise<Principal> => {
    let principal: Principal;
    if (authorization !== '') principal = await api.auth.authenticate(authorization);
    else if (token) principal = await api.auth.verifyToken(token);
    else throw new TroupeError('UNAUTHENTICATED', 'send Authorization: Bearer <token or API key>, or ?token=');
    api.limiter.take(principal.id);
    return { ...principal, source: ip };
  };
  const refuse = (res: HttpResponse, err: unknown, aborted: () => boolean) => send(res, errorReply(err, logger), aborted);

  app.ws<SocketData>('/v1/live', {
    compression: 0,
    maxPayloadLength: 64 * 1024,
    idleTimeout: clampIdle(config.WEBSOCKET_CONNECTION_TIMEOUT),
    sendPingsAutomatically: true,
    // Above our own bound, with room for one published batch (≤ 3 topics per event): our 4008 comes first, and
    // should uWS ever reach its limit it closes the socket rather than silently drop a message.
    maxBackpressure: backlogBytes + 3 * batchSize * 4096,
    closeOnBackpressureLimit: 1,
    upgrade: (res, req, context) => {
      let aborted = false;
      let holdsSlot = false;
      res.onAborted(() => {
        aborted = true;
        if (holdsSlot) slots--;
        holdsSlot = false;
      });
      // req is valid only until the first await: copy everything now.
      const authorization = req.getHeader('authorization');
      const token = new URLSearchParams(req.getQuery() ?? '').get('token');
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const ip = Buffer.from(res.getRemoteAddressAsText()).toString();
      const isAborted = () => aborted;
      if (closing) return refuse(res, new TroupeError('ENGINE_STOPPED', 'the server is shutting down'), isAborted);
      if (slots >= config.WEBSOCKET_MAX_CONNECTIONS) {
        const limit = config.WEBSOCKET_MAX_CONNECTIONS;
        const message = `the live channel is at its limit of ${limit} connections (WEBSOCKET_MAX_CONNECTIONS)`;
        return refuse(res, new TroupeError('RATE_LIMITED', message, { details: { retryAfterSeconds: 5, limit } }), isAborted);
      }
      slots++;
      holdsSlot = true;
      const release = () => {
        if (holdsSlot) slots--;
        holdsSlot = false;
      };
      authenticate(authorization, token, ip).then(
        (principal) =>
          // Upgrade from a macrotask of our own, as uWebSockets.js's UpgradeAsync example does from a timer. This
          // continuation can run in a microtask checkpoint while uWS is inside another socket's callback; an
          // upgrade there was seen to close the new WebSocket at once (1006 right after open).
          setImmediate(() => {
            if (aborted) return;
            if (closing) {
              release();
              refuse(res, new TroupeError('ENGINE_STOPPED', 'the server is shutting down'), isAborted);
              return;
            }
            holdsSlot = false; // the socket holds it now; its close handler gives it back
            const data: SocketData = { session: new LiveSession(host, principal) };
            res.cork(() => res.upgrade(data, key, protocol, extensions, context));
          }),
        (err: unknown) => {
          release();
          refuse(res, err, isAborted);
        },
      );
    },
    open: (ws) => {
      sockets.add(ws);
      metrics.liveConnections.inc();
      ws.subscribe(BROADCAST_KEY);
      ws.getUserData().session.attach(ws);
    },
    message: (ws, message, isBinary) => {
      const { session } = ws.getUserData();
      // The ArrayBuffer is neutered after this callback returns: decode it now.
      const text = Buffer.from(message).toString('utf8');
      let parsed;
      try {
        parsed = parseClientMessage(text, isBinary);
      } catch (err) {
        session.send(errorMessage(err instanceof TroupeError ? err : new TroupeError('VALIDATION_FAILED')));
        return;
      }
      session.enqueue(parsed);
    },
    drain: (ws) => ws.getUserData().session.drained(),
    close: (ws) => {
      sockets.delete(ws);
      slots--;
      metrics.liveConnections.dec();
      ws.getUserData().session.detach();
    },
  });

  return {
    get cursor() {
      return hub.cursor;
    },
    get connections() {
      return sockets.size;
    },
    async close() {
      closing = true;
      clearInterval(heartbeat);
      stopSignals();
      for (const ws of [...sockets]) ws.end(1001, 'server shutting down');
      await hub.stop();
    },
  };
}
