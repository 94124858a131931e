import { Type } from '@sinclair/typebox';
import { TroupeError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import { validate } from '../../core/schemas.js';
import { canSee, type Principal } from '../../engine/principal.js';
import type { SuiteRecord, TestCaseRecord } from '../../store/store.port.js';
import { authed, type Api } from '../api-context.js';
import { isAdmin, requireRole } from '../auth.js';
import type { RouteRegistrar } from '../http-kit.js';
import { parseQuery } from '../query.js';

export const SuiteBodySchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 500 }),
    testCaseIds: Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { minItems: 1, maxItems: 10_000 }),
  },
  { additionalProperties: false },
);

const iso = (ms: number) => new Date(ms).toISOString();
const testCaseView = (t: TestCaseRecord) => ({ id: t.id, owner: t.owner, version: t.version, createdAt: iso(t.createdAt), updatedAt: iso(t.updatedAt), item: t.item });
const suiteView = (s: SuiteRecord) => ({ id: s.id, owner: s.owner, name: s.name, testCaseIds: s.testCaseIds, version: s.version, createdAt: iso(s.createdAt), updatedAt: iso(s.updatedAt) });

async function visibleTestCase(api: Api, id: string, principal: Principal): Promise<TestCaseRecord> {
  const t = await api.store.getTestCase(id);
  if (!t || !canSee(principal, t.owner)) throw new TroupeError('NOT_FOUND', `test case ${id} not found`);
  return t;
}

async function visibleSuite(api: Api, id: string, principal: Principal): Promise<SuiteRecord> {
  const s = await api.store.getSuite(id);
  if (!s || !canSee(principal, s.owner)) throw new TroupeError('NOT_FOUND', `suite ${id} not found`);
  return s;
}

async function checkCases(api: Api, ids: string[], principal: Principal): Promise<void> {
  for (const [i, id] of ids.entries()) {
    const t = await api.store.getTestCase(id);
    if (!t || !canSee(principal, t.owner)) {
      throw new TroupeError('VALIDATION_FAILED', `testCaseIds[${i}]: test case ${id} not found`, {
        details: [{ path: `/testCaseIds/${i}`, message: 'not found' }],
      });
    }
  }
}

function conflictOn(outcome: string, what: string): void {
  if (outcome === 'conflict') throw new TroupeError('VERSION_CONFLICT', `${what} changed concurrently; reload and retry`);
  if (outcome === 'not_found') throw new TroupeError('NOT_FOUND', `${what} not found`);
}

/** Test cases and suites (CRUD). Runs snapshot their definitions at submit. */
export function catalogRoutes(api: Api, route: RouteRegistrar): void {
  const list = (ctx: { query: URLSearchParams }, principal: Principal, kind: 'cursor:tcs' | 'cursor:sui') => {
    const q = parseQuery(ctx.query, { limit: 'limit', cursor: kind });
    return { ...(isAdmin(principal) ? {} : { owner: principal.id }), limit: q.limit, cursor: q.cursor ?? null };
  };

  route('post', '/v1/testcases', 0, authed(api, async (ctx, principal) => {
    parseQuery(ctx.query, {});
    requireRole(principal, 'runner');
    const item = api.coordinator.checkItem(ctx.body, 0);
    const now = Date.now();
    const t: TestCaseRecord = { id: newId('tcs'), owner: principal.id, item, version: 1, createdAt: now, updatedAt: now };
    await api.store.saveTestCase(t);
    return { status: 201, body: testCaseView(t) };
  }));
  route('get', '/v1/testcases', 0, authed(api, async (ctx, principal) => {
    const page = await api.store.listTestCases(list(ctx, principal, 'cursor:tcs'));
    return { status: 200, body: { items: page.items.map(testCaseView), next: page.next } };
  }));
  route('get', '/v1/testcases/:id', 1, authed(api, async (ctx, principal) => {
    parseQuery(ctx.query, {});
    return { status: 200, body: testCaseView(await visibleTestCase(api, ctx.params[0] as string, principal)) };
  }));
  route('put', '/v1/testcases/:id', 1, authed(api, async (ctx, principal) => {
    parseQuery(ctx.query, {});
    requireRole(principal, 'runner');
    const current = await visibleTestCase(api, ctx.params[0] as string, principal);
    const item = api.coordinator.checkItem(ctx.body, 0);
    const next = { ...current, item, version: current.version + 1, updatedAt: Date.now() };
    conflictOn(await api.store.saveTestCase(next, current.version), `test case ${current.id}`);
    return { status: 200, body: testCaseView(next) };
  }));
  route('del', '/v1/testcases/:id', 1, authed(api, async (ctx, principal) => {
    parseQuery(ctx.query, {});
    requireRole(principal, 'runner');
    const t = await visibleTestCase(api, ctx.params[0] as string, principal);
    await api.store.deleteTestCase(t.id);
    return { status: 200, body: { id: t.id, deleted: true } };
  }));

  route('post', '/v1/suites', 0, authed(api, async (ctx, principal) => {
    parseQuery(ctx.query, {});
    requireRole(principal, 'runner');
    const body = validate(SuiteBodySchema, ctx.body, 'suite');
    await checkCases(api, body.testCaseIds, principal);
    const now = Date.now();
    const s: SuiteRecord = { id: newId('sui'), owner: principal.id, ...body, version: 1, createdAt: now, updatedAt: now };
    await api.store.saveSuite(s);
    return { status: 201, body: suiteView(s) };
  }));
  route('get', '/v1/suites', 0, authed(api, async (ctx, principal) => {
    const page = await api.store.listSuites(list(ctx, principal, 'cursor:sui'));
    return { status: 200, body: { items: page.items.map(suiteView), next: page.next } };
  }));
  route('get', '/v1/suites/:id', 1, authed(api, async (ctx, principal) => {
    parseQuery(ctx.query, {});
    return { status: 200, body: suiteView(await visibleSuite(api, ctx.params[0] as string, principal)) };
  }));
  route('put', '/v1/suites/:id', 1, authed(api, async (ctx, principal) => {
    parseQuery(ctx.query, {});
    requireRole(principal, 'runner');
    const current = await visibleSuite(api, ctx.params[0] as string, principal);
    const body = validate(SuiteBodySchema, ctx.body, 'suite');
    await checkCases(api, body.testCaseIds, principal);
    const next = { ...current, ...body, version: current.version + 1, updatedAt: Date.now() };
    conflictOn(await api.store.saveSuite(next, current.version), `suite ${current.id}`);
    return { status: 200, body: suiteView(next) };
  }));
  route('del', '/v1/suites/:id', 1, authed(api, async (ctx, principal) => {
    parseQuery(ctx.query, {});
    requireRole(principal, 'runner');
    const s = await visibleSuite(api, ctx.params[0] as string, principal);
    await api.store.deleteSuite(s.id);
    return { status: 200, body: { id: s.id, deleted: true } };
  }));
}
