import { Type } from '@sinclair/typebox';
import { TroupeError } from '../../core/errors.js';
import { validate } from '../../core/schemas.js';
import { authed, type Api } from '../api-context.js';
import { issueApiKey, requireRole } from '../auth.js';
import type { RouteRegistrar } from '../http-kit.js';
import { parseQuery } from '../query.js';

export const CreateKeySchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    role: Type.Union([Type.Literal('viewer'), Type.Literal('runner'), Type.Literal('admin')]),
    owner: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[\\w.:@-]+$' })),
  },
  { additionalProperties: false },
);

/** Admin only: the audit log and API keys. */
export function adminRoutes(api: Api, route: RouteRegistrar): void {
  route('get', '/v1/audit', 0, authed(api, async (ctx, principal) => {
    const q = parseQuery(ctx.query, { limit: 'limit' });
    requireRole(principal, 'admin');
    const items = await api.store.listAudit(q.limit);
    return { status: 200, body: { items: items.map((a) => ({ ...a, at: new Date(a.at).toISOString() })), next: null } };
  }));

  route('get', '/v1/me', 0, authed(api, (ctx, principal) => {
    parseQuery(ctx.query, {});
    return { status: 200, body: { id: principal.id, roles: principal.roles } };
  }));

  route('post', '/v1/keys', 0, authed(api, async (ctx, principal) => {
    parseQuery(ctx.query, {});
    requireRole(principal, 'admin');
    const body = validate(CreateKeySchema, ctx.body, 'key');
    const { secret, key } = await issueApiKey(api.store, body.owner ?? principal.id, body.role, body.name);
    await api.store.appendAudit({ at: Date.now(), principal: principal.id, action: 'CREATE_KEY', target: key.id, source: ctx.ip });
    return { status: 201, body: { id: key.id, key: secret, name: key.name, role: key.role, owner: key.owner } };
  }));

  route('get', '/v1/keys', 0, authed(api, async (ctx, principal) => {
    parseQuery(ctx.query, {});
    requireRole(principal, 'admin');
    const keys = await api.store.listApiKeys();
    const items = keys.map(({ hash: _hash, ...k }) => ({
      ...k,
      createdAt: new Date(k.createdAt).toISOString(),
      revokedAt: k.revokedAt === null ? null : new Date(k.revokedAt).toISOString(),
    }));
    return { status: 200, body: { items, next: null } };
  }));

  route('del', '/v1/keys/:id', 1, authed(api, async (ctx, principal) => {
    parseQuery(ctx.query, {});
    requireRole(principal, 'admin');
    const id = ctx.params[0] as string;
    if (!(await api.store.revokeApiKey(id, Date.now()))) throw new TroupeError('NOT_FOUND', `no active key ${id}`);
    api.auth.forgetVerified();
    await api.store.appendAudit({ at: Date.now(), principal: principal.id, action: 'REVOKE_KEY', target: id, source: ctx.ip });
    return { status: 200, body: { id, revoked: true } };
  }));
}
