import { Type } from '@sinclair/typebox';
import { TroupeError } from '../../core/errors.js';
import { validate } from '../../core/schemas.js';
import type { EventType } from '../../core/statuses.js';
import { canSee, type Principal } from '../../engine/principal.js';
import { decodeSeqCursor, encodeSeqCursor } from '../../store/cursor.js';
import type { ExecutionRecord } from '../../store/store.port.js';
import { authed, type Api } from '../api-context.js';
import { requireRole, isAdmin } from '../auth.js';
import type { HttpContext, RouteRegistrar } from '../http-kit.js';
import { EVENT_QUERY, EXECUTION_QUERY, pageOf, parseQuery } from '../query.js';
import { eventView, executionView, stepView } from '../views.js';

export const CommandBodySchema = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 1000 })) }, {
  additionalProperties: false,
});

const COMMANDS: Record<string, EventType> = { cancel: 'CANCEL', pause: 'PAUSE', resume: 'RESUME', abort: 'ABORT' };

function noQuery(ctx: HttpContext): void {
  parseQuery(ctx.query, {});
}

/** The execution with `id` if the principal may see it; otherwise NOT_FOUND exactly like a missing id. */
export async function visibleExecution(api: Api, id: string, principal: Principal): Promise<ExecutionRecord> {
  const execution = await api.store.getExecution(id);
  if (!execution || !canSee(principal, execution.owner)) throw new TroupeError('NOT_FOUND', `execution ${id} not found`);
  return execution;
}

export function executionRoutes(api: Api, route: RouteRegistrar): void {
  route('post', '/v1/executions', 0, authed(api, async (ctx, principal) => {
    noQuery(ctx);
    requireRole(principal, 'runner');
    const execution = await api.coordinator.submitExecution(ctx.body, principal);
    return { status: 201, body: executionView(execution) };
  }));

  route('get', '/v1/executions', 0, authed(api, async (ctx, principal) => {
    const q = parseQuery(ctx.query, EXECUTION_QUERY);
    const v = q.values as { status?: never; priority?: never; context?: never; runId?: string; owner?: string };
    const page = await api.store.listExecutions({
      ...v,
      // Not an admin: only your own, whatever `owner` says.
      ...(isAdmin(principal) ? {} : { owner: principal.id }),
      ...pageOf(q),
    });
    return { status: 200, body: { items: page.items.map(executionView), next: page.next } };
  }));

  route('get', '/v1/executions/:id', 1, authed(api, async (ctx, principal) => {
    noQuery(ctx);
    return { status: 200, body: executionView(await visibleExecution(api, ctx.params[0] as string, principal)) };
  }));

  route('get', '/v1/executions/:id/steps', 1, authed(api, async (ctx, principal) => {
    noQuery(ctx);
    const execution = await visibleExecution(api, ctx.params[0] as string, principal);
    const steps = await api.store.listSteps(execution.id);
    return { status: 200, body: { items: steps.map(stepView) } };
  }));

  route('get', '/v1/executions/:id/events', 1, authed(api, async (ctx, principal) => {
    const q = parseQuery(ctx.query, EVENT_QUERY);
    const execution = await visibleExecution(api, ctx.params[0] as string, principal);
    const after = q.cursor === undefined ? null : decodeSeqCursor(q.cursor);
    if (after && after.executionId !== execution.id) {
      throw new TroupeError('VALIDATION_FAILED', 'query parameter cursor: a cursor of another execution\'s events', {
        details: [{ path: '?cursor', message: 'not a cursor this list returned' }],
      });
    }
    // One more than asked tells whether another page follows.
    const events = await api.store.eventPage(execution.id, after?.seq ?? 0, q.limit + 1);
    const items = events.slice(0, q.limit);
    const last = items.at(-1);
    const next = events.length > q.limit && last ? encodeSeqCursor(execution.id, last.seq) : null;
    return { status: 200, body: { items: items.map(eventView), next } };
  }));

  route('post', '/v1/executions/:id/steps/:n/verdict', 2, authed(api, async (ctx, principal) => {
    noQuery(ctx);
    const [id, n] = ctx.params as [string, string];
    requireRole(principal, 'runner');
    if (!/^(0|[1-9]\d{0,5})$/.test(n)) throw new TroupeError('VALIDATION_FAILED', `step index ${JSON.stringify(n)} is not a zero-based step number`);
    await api.coordinator.verdict(id, Number(n), ctx.body ?? {}, principal);
    return { status: 200, body: executionView(await visibleExecution(api, id, principal)) };
  }));

  route('post', '/v1/executions/:id/:command', 2, authed(api, async (ctx, principal) => {
    noQuery(ctx);
    const [id, command] = ctx.params as [string, string];
    const body = validate(CommandBodySchema, ctx.body ?? {}, 'command');
    if (command === 'retry') {
      requireRole(principal, 'runner');
      const rerun = await api.coordinator.retry(id, principal);
      return { status: 201, body: executionView(rerun) };
    }
    // Own properties only: POST …/constructor must not send Object as an event to the execution's actor.
    const type = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (!type) throw new TroupeError('NOT_FOUND', `no command ${command}: use cancel, pause, resume, abort or retry`);
    requireRole(principal, type === 'ABORT' ? 'admin' : 'runner');
    await visibleExecution(api, id, principal);
    await api.coordinator.command(id, type, principal, body.reason);
    return { status: 200, body: executionView(await visibleExecution(api, id, principal)) };
  }));
}
