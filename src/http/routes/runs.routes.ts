import { TroupeError } from '../../core/errors.js';
import { canSee, type Principal } from '../../engine/principal.js';
import type { RunRecord } from '../../store/store.port.js';
import { authed, type Api } from '../api-context.js';
import { isAdmin, requireRole } from '../auth.js';
import type { RouteRegistrar } from '../http-kit.js';
import { EXECUTION_LIST_QUERY, RUN_QUERY, pageOf, parseQuery } from '../query.js';
import { STATUSES } from '../../core/statuses.js';
import { executionView, runView } from '../views.js';
import { toHtmlReport } from '../../report/html.js';
import { toJunitXml } from '../../report/junit.js';
import { storedComparison, storedRunReport } from '../../report/stored-tests.js';

const REPORT_QUERY = { format: ['json', 'junit', 'html'] } as const;

async function visibleRun(api: Api, id: string, principal: Principal): Promise<RunRecord> {
  const run = await api.store.getRun(id);
  if (!run || !canSee(principal, run.owner)) throw new TroupeError('NOT_FOUND', `run ${id} not found`);
  return run;
}

export function runRoutes(api: Api, route: RouteRegistrar): void {
  route('post', '/v1/runs', 0, authed(api, async (ctx, principal) => {
    parseQuery(ctx.query, {});
    requireRole(principal, 'runner');
    const run = await api.coordinator.submitRun(ctx.body, principal);
    return { status: run.created ? 201 : 200, body: { id: run.id, status: run.status, executionIds: run.executionIds } };
  }));

  route('get', '/v1/runs', 0, authed(api, async (ctx, principal) => {
    const q = parseQuery(ctx.query, RUN_QUERY);
    const page = await api.store.listRuns({
      ...(q.values as { status?: never; owner?: string }),
      ...(isAdmin(principal) ? {} : { owner: principal.id }),
      ...pageOf(q),
    });
    const items = await Promise.all(page.items.map(async (r) => runView(r, await api.store.runCounts(r.id))));
    return { status: 200, body: { items, next: page.next } };
  }));

  route('get', '/v1/runs/:id', 1, authed(api, async (ctx, principal) => {
    parseQuery(ctx.query, {});
    const run = await visibleRun(api, ctx.params[0] as string, principal);
    return { status: 200, body: runView(run, await api.store.runCounts(run.id)) };
  }));

  route('get', '/v1/runs/:id/executions', 1, authed(api, async (ctx, principal) => {
    const q = parseQuery(ctx.query, { ...EXECUTION_LIST_QUERY, status: STATUSES });
    const run = await visibleRun(api, ctx.params[0] as string, principal);
    const page = await api.store.listExecutions({
      runId: run.id,
      ...(q.values as { status?: never }),
      ...pageOf(q),
    });
    return { status: 200, body: { items: page.items.map(executionView), next: page.next } };
  }));

  route('get', '/v1/runs/:id/report', 1, authed(api, async (ctx, principal) => {
    const q = parseQuery(ctx.query, REPORT_QUERY);
    const run = await visibleRun(api, ctx.params[0] as string, principal);
    const report = await storedRunReport(api.store, run, runView(run, await api.store.runCounts(run.id)));
    if (q.values.format === 'junit') {
      return { status: 200, text: toJunitXml({ name: run.name || run.id, id: run.id, cases: report.tests }), contentType: 'application/xml; charset=utf-8' };
    }
    if (q.values.format === 'html') return { status: 200, text: toHtmlReport(report), contentType: 'text/html; charset=utf-8' };
    return { status: 200, body: report };
  }));

  route('get', '/v1/runs/:id/compare/:baseId', 2, authed(api, async (ctx, principal) => {
    parseQuery(ctx.query, {});
    const run = await visibleRun(api, ctx.params[0] as string, principal);
    const base = await visibleRun(api, ctx.params[1] as string, principal);
    return { status: 200, body: await storedComparison(api.store, run, base) };
  }));

  route('post', '/v1/runs/:id/cancel', 1, authed(api, async (ctx, principal) => {
    parseQuery(ctx.query, {});
    requireRole(principal, 'runner');
    const run = await visibleRun(api, ctx.params[0] as string, principal);
    await api.coordinator.cancelRun(run.id, principal);
    return { status: 202, body: { id: run.id, status: 'CANCELLING' } };
  }));
}
