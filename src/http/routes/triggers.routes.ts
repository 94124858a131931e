import { Type } from '@sinclair/typebox';
import picomatch from 'picomatch';
import { systemClock } from '../../core/clock.js';
import { TroupeError } from '../../core/errors.js';
import { HOOK_EVENTS } from '../../core/hook-events.js';
import { newId } from '../../core/ids.js';
import { validate } from '../../core/schemas.js';
import { audit } from '../../engine/audit.js';
import { canSee, type Principal } from '../../engine/principal.js';
import type { NotifyAttemptRecord, TriggerRecord } from '../../store/store.port.js';
import { authed, type Api } from '../api-context.js';
import { isAdmin, requireRole } from '../auth.js';
import type { RouteRegistrar } from '../http-kit.js';
import { parseQuery } from '../query.js';

export const TriggerBodySchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 500 }),
    source: Type.Union([Type.Literal('github'), Type.Literal('gitlab')]),
    repository: Type.String({ minLength: 1, maxLength: 300, pattern: '^\\S+$' }),
    events: Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { minItems: 1, maxItems: 10, uniqueItems: true }),
    branches: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 300 }), { minItems: 1, maxItems: 100 })),
    suiteId: Type.String({ minLength: 1, maxLength: 100 }),
    notify: Type.Optional(
      Type.Object(
        { url: Type.String({ minLength: 1, maxLength: 2000 }), secret: Type.String({ minLength: 16, maxLength: 500 }) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

const iso = (ms: number) => new Date(ms).toISOString();

/** A trigger as clients see it: the notify secret is never shown again. */
export const triggerView = (t: TriggerRecord) => ({
  id: t.id,
  owner: t.owner,
  name: t.name,
  source: t.source,
  repository: t.repository,
  events: t.events,
  branches: t.branches,
  suiteId: t.suiteId,
  notify: t.notify === null ? null : { url: t.notify.url },
  createdAt: iso(t.createdAt),
});

const attemptView = (a: NotifyAttemptRecord) => ({
  id: a.id,
  runId: a.runId,
  attempt: a.attempt,
  at: iso(a.at),
  ok: a.ok,
  statusCode: a.statusCode,
  error: a.error,
});

function invalid(path: string, message: string): never {
  throw new TroupeError('VALIDATION_FAILED', `trigger: ${path.slice(1).replaceAll('/', '.')} ${message}`, { details: [{ path, message }] });
}

/** What the schema cannot say: events the source has, globs that compile, an http(s) URL, a suite of the owner's. */
async function checkTrigger(api: Api, body: typeof TriggerBodySchema.static, principal: Principal): Promise<void> {
  const known: readonly string[] = HOOK_EVENTS[body.source];
  body.events.forEach((e, i) => {
    if (!known.includes(e)) invalid(`/events/${i}`, `is not a ${body.source} event this engine starts runs on (${known.join(', ')})`);
  });
  body.branches?.forEach((glob, i) => {
    try {
      picomatch(glob);
    } catch (err) {
      invalid(`/branches/${i}`, `is not a valid glob: ${(err as Error).message}`);
    }
  });
  if (body.notify) {
    const url = URL.canParse(body.notify.url) ? new URL(body.notify.url) : null;
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) invalid('/notify/url', 'must be an http or https URL');
  }
  // The trigger's runs are started as its owner with the runner role: the suite must be the owner's own.
  const suite = await api.store.getSuite(body.suiteId);
  if (!suite || suite.owner !== principal.id) invalid('/suiteId', `names no suite of ${principal.id} (suite ${body.suiteId} not found)`);
}

async function visibleTrigger(api: Api, id: string, principal: Principal): Promise<TriggerRecord> {
  const t = await api.store.getTrigger(id);
  if (!t || !canSee(principal, t.owner)) throw new TroupeError('NOT_FOUND', `trigger ${id} not found`);
  return t;
}

/** CI triggers (SPEC §8): which webhook deliveries start a run of which suite, and their notification attempts. */
export function triggerRoutes(api: Api, route: RouteRegistrar): void {
  route('post', '/v1/triggers', 0, authed(api, async (ctx, principal) => {
    parseQuery(ctx.query, {});
    requireRole(principal, 'runner');
    const body = validate(TriggerBodySchema, ctx.body, 'trigger');
    await checkTrigger(api, body, principal);
    const t: TriggerRecord = {
      id: newId('trg'),
      owner: principal.id,
      name: body.name,
      source: body.source,
      repository: body.repository,
      events: body.events,
      branches: body.branches ?? null,
      suiteId: body.suiteId,
      notify: body.notify ?? null,
      createdAt: systemClock.now(),
    };
    await api.store.saveTrigger(t);
    await audit(api.store, systemClock, principal, 'CREATE_TRIGGER', t.id, { source: t.source, repository: t.repository });
    return { status: 201, body: triggerView(t) };
  }));
  route('get', '/v1/triggers', 0, authed(api, async (ctx, principal) => {
    const q = parseQuery(ctx.query, { limit: 'limit', cursor: 'cursor:trg' });
    const page = await api.store.listTriggers({ ...(isAdmin(principal) ? {} : { owner: principal.id }), limit: q.limit, cursor: q.cursor ?? null });
    return { status: 200, body: { items: page.items.map(triggerView), next: page.next } };
  }));
  route('get', '/v1/triggers/:id', 1, authed(api, async (ctx, principal) => {
    parseQuery(ctx.query, {});
    return { status: 200, body: triggerView(await visibleTrigger(api, ctx.params[0] as string, principal)) };
  }));
  route('del', '/v1/triggers/:id', 1, authed(api, async (ctx, principal) => {
    parseQuery(ctx.query, {});
    requireRole(principal, 'runner');
    const t = await visibleTrigger(api, ctx.params[0] as string, principal);
    await api.store.deleteTrigger(t.id);
    await audit(api.store, systemClock, principal, 'DELETE_TRIGGER', t.id);
    return { status: 200, body: { id: t.id, deleted: true } };
  }));
  route('get', '/v1/triggers/:id/deliveries', 1, authed(api, async (ctx, principal) => {
    const q = parseQuery(ctx.query, { limit: 'limit', cursor: 'cursor:ntf' });
    const t = await visibleTrigger(api, ctx.params[0] as string, principal);
    const page = await api.store.listNotifyAttempts({ triggerId: t.id, limit: q.limit, cursor: q.cursor ?? null });
    return { status: 200, body: { items: page.items.map(attemptView), next: page.next } };
  }));
}
