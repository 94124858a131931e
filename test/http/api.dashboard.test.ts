import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDashboard } from '../../src/http/dashboard.js';
import { item } from '../helpers/engine.js';
import { startTestServer, waitForStatus } from '../helpers/server.js';

/** The dashboard's files (SPEC §9) and the two endpoints it reads beside the rest of the API. */
describe('GET / and /assets', () => {
  it('serves the built page uncached, with a policy to its own origin, and its hashed assets cached for good', async () => {
    await using s = await startTestServer();
    const page = await s.request('GET', '/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const assets = [...page.text.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1] as string);
    expect(assets.map((a) => /^\/assets\/app-[A-Z0-9]+\.(js|css)$/.test(a))).toEqual([true, true]);
    for (const asset of assets) {
      const res = await s.request('GET', asset);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('content-type')).toMatch(asset.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
      expect(res.text.length).toBeGreaterThan(1000);
    }
    expect((await s.request('GET', '/assets/app-NOTBUILT.js')).status).toBe(404);
    expect((await s.request('GET', '/assets/..%2Fpackage.json')).status).toBe(404);
  });

  it('is absent, not broken, when the dashboard was not built', () => {
    expect(loadDashboard(mkdtempSync(join(tmpdir(), 'troupe-no-dashboard-')))).toBeNull();
  });
});

describe('GET /v1/me and GET /v1/queue', () => {
  it('say who the credentials are, and how the queue stands against capacity', async () => {
    await using s = await startTestServer({ EXECUTION_MAX_CONCURRENT_JOBS: '3' }, { pool: false });
    const alice = await s.client('alice', ['runner']);
    expect((await alice.get('/v1/me')).body).toEqual({ id: 'alice', roles: ['runner'] });
    expect((await s.request('GET', '/v1/me')).status).toBe(401);
    // No pool: started executions stay RUNNING, the rest wait.
    const run = await alice.post('/v1/runs', { items: [1, 2, 3, 4, 5].map((i) => item(`t${i}`, [{ action: 'noop' }], { priority: i === 5 ? 'HIGH' : 'NORMAL' })) });
    expect(run.status).toBe(201);
    await waitForStatus(alice, run.body.executionIds[0], 'RUNNING');
    const queue = (await alice.get('/v1/queue')).body;
    expect(queue).toMatchObject({ queued: 2, running: 3, capacity: 3, live: 5 });
    expect(queue.depth.NORMAL + queue.depth.HIGH).toBe(2);
    expect((await alice.get('/v1/queue?limit=1')).status).toBe(400);
  });
});
