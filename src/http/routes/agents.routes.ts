import type { DeadLetter } from '../../bus/bus.port.js';
import { authed, type Api } from '../api-context.js';
import { requireRole } from '../auth.js';
import type { RouteRegistrar } from '../http-kit.js';
import { parseQuery } from '../query.js';
import { executionView } from '../views.js';

const iso = (ms: number): string => new Date(ms).toISOString();

function deadLetterView(letter: DeadLetter) {
  const { job } = letter;
  return {
    jobId: job.jobId,
    executionId: job.executionId,
    runId: job.runId,
    pool: job.pool,
    attempt: job.attempt,
    name: job.item.name,
    deliveries: letter.deliveries,
    deadAt: iso(letter.deadAt),
    reason: letter.reason,
  };
}

/** The queue (any role), live agents (any role) and, in distributed mode, dead letters (admin: list, redrive, discard). */
export function agentRoutes(api: Api, route: RouteRegistrar): void {
  route('get', '/v1/queue', 0, authed(api, (ctx) => {
    parseQuery(ctx.query, {});
    const { live, running, queued } = api.coordinator.stats();
    return { status: 200, body: { depth: api.coordinator.queueDepth(), queued, running, capacity: api.config.EXECUTION_MAX_CONCURRENT_JOBS, live } };
  }));

  // Both lists are small and held in full (live agents; letters kept 14 days): all of it, or the first `limit`.
  const cap = (query: URLSearchParams, limit: number) => (query.has('limit') ? limit : Number.POSITIVE_INFINITY);
  route('get', '/v1/agents', 0, authed(api, (ctx) => {
    const q = parseQuery(ctx.query, { limit: 'limit' });
    const items = api.agents.list().slice(0, cap(ctx.query, q.limit)).map((a) => ({ ...a, startedAt: iso(a.startedAt), at: iso(a.at) }));
    return { status: 200, body: { items, next: null } };
  }));

  route('get', '/v1/dead-letters', 0, authed(api, async (ctx, principal) => {
    const q = parseQuery(ctx.query, { limit: 'limit' });
    requireRole(principal, 'admin');
    const letters = await api.coordinator.deadLetters();
    return { status: 200, body: { items: letters.map(deadLetterView).reverse().slice(0, cap(ctx.query, q.limit)), next: null } };
  }));

  route('post', '/v1/dead-letters/:jobId/redrive', 1, authed(api, async (ctx, principal) => {
    parseQuery(ctx.query, {});
    requireRole(principal, 'admin');
    const record = await api.coordinator.redrive(ctx.params[0] as string, principal);
    return { status: 201, body: executionView(record) };
  }));

  route('del', '/v1/dead-letters/:jobId', 1, authed(api, async (ctx, principal) => {
    parseQuery(ctx.query, {});
    requireRole(principal, 'admin');
    await api.coordinator.discardDeadLetter(ctx.params[0] as string, principal);
    return { status: 200, body: { jobId: ctx.params[0], discarded: true } };
  }));
}
