import { headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { ERROR_CODES, TroupeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Coordinator, Principal } from '../engine/coordinator.js';

export interface NatsSubmitOptions {
  connection: NatsConnection;
  /** Subject prefix of the bus (`troupe`): the service listens on `<prefix>.api.submit`. */
  prefix: string;
  coordinator: Coordinator;
  /** The API's authenticator: the request's `Authorization` header is checked exactly like over HTTP. */
  authenticate: (authorization: string) => Promise<Principal>;
  /** Spends one request of the principal's rate limit (throws RATE_LIMITED), as over HTTP. */
  limit: (principalId: string) => void;
  logger: Logger;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * `troupe.api.submit`: request/reply run submission for other services. The request is the `POST /v1/runs`
 * body (JSON) with an `Authorization` header (API key or JWT, as over HTTP); the reply is what the API
 * answers — `{ id, status, executionIds }` or `{ error: { code, message, details } }` — with the HTTP status
 * in a `Troupe-Status` header. API nodes share the subject in one queue group: each request is answered once.
 */
export function startNatsSubmit(options: NatsSubmitOptions): Subscription {
  const { connection, coordinator, logger } = options;
  return connection.subscribe(`${options.prefix}.api.submit`, {
    queue: `${options.prefix}-api`,
    callback: (err, msg) => {
      if (err) {
        logger.error({ err }, 'submit subscription failed');
        return;
      }
      void answer(msg);
    },
  });

  async function answer(msg: Msg): Promise<void> {
    let status: number;
    let body: unknown;
    try {
      const principal = await options.authenticate(msg.headers?.get('Authorization') ?? '');
      options.limit(principal.id);
      if (!principal.roles.includes('runner') && !principal.roles.includes('admin')) {
        throw new TroupeError('FORBIDDEN', 'submitting a run needs the runner or admin role');
      }
      let request: unknown;
      try {
        request = JSON.parse(decoder.decode(msg.data));
      } catch (parseError) {
        throw new TroupeError('MALFORMED_JSON', `the request is not valid JSON: ${(parseError as Error).message}`);
      }
      const run = await coordinator.submitRun(request, { ...principal, source: 'nats' });
      status = run.created ? 201 : 200;
      body = { id: run.id, status: run.status, executionIds: run.executionIds };
    } catch (error) {
      if (!(error instanceof TroupeError)) logger.error({ err: error }, 'submit over NATS failed');
      const known = error instanceof TroupeError ? error : new TroupeError('INTERNAL');
      status = ERROR_CODES[known.code].status;
      body = known.toJSON();
    }
    const h = headers();
    h.set('Troupe-Status', String(status));
    if (msg.reply) msg.respond(encoder.encode(JSON.stringify(body)), { headers: h });
  }
}
