import type { Config } from '../core/config.js';
import type { Logger } from '../core/log.js';
import type { AgentDirectory } from '../engine/agents.js';
import type { Coordinator, Principal } from '../engine/coordinator.js';
import type { TriggerRuns } from '../engine/triggers.js';
import type { Store } from '../store/store.port.js';
import type { Authenticator } from './auth.js';
import type { Handler, HttpContext, Reply } from './http-kit.js';
import type { RateLimiter } from './rate-limit.js';

/** What route modules need. */
export interface Api {
  coordinator: Coordinator;
  agents: AgentDirectory;
  store: Store;
  auth: Authenticator;
  limiter: RateLimiter;
  logger: Logger;
  config: Config;
  /** Starts the runs of the triggers a webhook delivery matches, once per delivery id. */
  hooks: TriggerRuns;
}

export type AuthedHandler = (ctx: HttpContext, principal: Principal) => Promise<Reply> | Reply;

/** Authenticates the caller and spends one request of their rate limit before the handler runs. */
export function authed(api: Api, handler: AuthedHandler): Handler {
  return async (ctx) => {
    const principal = await api.auth.authenticate(ctx.authorization);
    api.limiter.take(principal.id);
    return handler(ctx, { ...principal, source: ctx.ip });
  };
}
