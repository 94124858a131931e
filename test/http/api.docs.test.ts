import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runnerTypes } from '../../src/runners/registry.js';
import { startTestServer } from '../helpers/server.js';

/**
 * docs/api.md is the page a user reads: every route the server answers must be on it (and in /openapi.json),
 * and every route it names must exist. Routes come from the server itself, so a new one cannot slip by.
 */

const PAGE = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'api.md'), 'utf8');

/** `METHOD /path` in the page's code spans, query strings dropped, with the methods of `A` · `B` rows spread. */
function documented(): { method: string; path: string }[] {
  const found: { method: string; path: string }[] = [];
  for (const line of PAGE.split('\n')) {
    const spans = [...line.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
    for (const [i, span] of spans.entries()) {
      const match = /^(GET|POST|PUT|PATCH|DELETE) (\/[^\s?`]*)/.exec(span);
      if (!match) continue;
      const [, method, path] = match as unknown as [string, string, string];
      found.push({ method, path });
      // `POST /v1/executions/:id/cancel` · `pause` · `resume`: the same path with its last segment replaced.
      for (const sibling of spans.slice(i + 1)) {
        if (!/^[a-z]+$/.test(sibling) || !line.includes(`\` · \`${sibling}\``)) break;
        found.push({ method, path: path.replace(/[^/]+$/, sibling) });
      }
    }
  }
  return found;
}

/** Whether the documented `path` is an instance of the route `pattern` (`:x` matches any one segment). */
function names(pattern: string, path: string): boolean {
  const [p, d] = [pattern.split('/'), path.split('/')];
  return p.length === d.length && p.every((segment, i) => segment.startsWith(':') || segment === d[i]);
}

const toOpenApi = (pattern: string) => pattern.replace(/:(\w+)/g, '{$1}');

describe('docs/api.md and the routes the server serves', () => {
  it('names every route (method and path), and /openapi.json describes each one', async () => {
    await using s = await startTestServer({ METRICS_ENABLED: 'true', WEBSOCKET_ENABLED: 'true' }, { pool: false });
    const docs = documented();
    const openapi = (await s.request('GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    expect(s.server.routes.length).toBeGreaterThan(30);
    const missing = s.server.routes.filter((r) => !docs.some((d) => d.method === r.method && names(r.pattern, d.path)));
    expect(missing, 'routes docs/api.md does not name').toEqual([]);
    const undescribed = s.server.routes.filter(
      (r) => r.pattern !== '/v1/executions/:id/:command' && openapi.paths[toOpenApi(r.pattern)]?.[r.method.toLowerCase()] === undefined,
    );
    expect(undescribed, 'routes /openapi.json does not describe').toEqual([]);
  });

  it('names no route that does not exist', async () => {
    await using s = await startTestServer({}, { pool: false });
    const stale = documented().filter((d) => !s.server.routes.some((r) => r.method === d.method && names(r.pattern, d.path)));
    expect(stale, 'routes docs/api.md names that the server does not serve').toEqual([]);
  });

  it('the matching is not vacuous: a route the page does not name is reported', () => {
    const docs = documented();
    expect(docs.some((d) => d.method === 'GET' && names('/v1/executions/:id/events', d.path))).toBe(true);
    expect(docs.some((d) => d.method === 'POST' && names('/v1/executions/:id/:command', d.path) && d.path.endsWith('/pause'))).toBe(true);
    expect(docs.some((d) => names('/v1/teleports/:id', d.path))).toBe(false);
  });
});

describe('docs/architecture.md and the runners the engine has', () => {
  it('the ports table names a runner for every item type and calls none of them planned', () => {
    const page = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'architecture.md'), 'utf8');
    const row = page.split('\n').find((line) => line.startsWith('| Runners |')) ?? '';
    for (const type of [...runnerTypes(), 'MANUAL']) expect(row, type).toContain(type);
    expect(row).not.toMatch(/planned/i);
  });
});
