import type { Response } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/chromium.js';
import { liveState, runEnded, serve, signIn } from './support.js';

/**
 * The dashboard's own reads count against the user's API rate limit (`API_RATE_LIMIT_PER_MINUTE`, 100 a minute by
 * default). Watching runs go by on the runs list and on a run page — hundreds of live events — must stay inside it:
 * the pages read only when an event says something changed.
 */
describe('dashboard: inside the default rate limit', () => {
  it('follows a run of 60 executions on the runs list and its run page with no request refused', async () => {
    await using s = await serve({ API_RATE_LIMIT_PER_MINUTE: '100', EXECUTION_MAX_CONCURRENT_JOBS: '4' });
    const alice = await s.createKey('alice', 'runner', 'alice');
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const answers: Response[] = [];
      page.on('response', (r) => answers.push(r));
      await signIn(page, s.base, alice, '#/runs');
      await liveState(page, 'live');
      const items = Array.from({ length: 60 }, (_, i) => ({ name: `step ${i}`, type: 'GENERIC', steps: [{ action: 'sleep', ms: 100 }] }));
      const res = await s.api<{ id: string }>(alice, 'POST', '/v1/runs', { name: 'sixty', items });
      expect(res.status, res.text).toBe(201);
      const row = page.locator(`[data-run-id="${res.body.id}"]`);
      await row.waitFor();
      await row.getByRole('link', { name: 'sixty' }).click();
      await page.locator('[data-run-status]').waitFor();
      // Watched with the admin's key: alice's own requests here would spend the page's allowance.
      await runEnded(s, s.adminKey, res.body.id);
      await page.locator('[data-run-status]', { hasText: 'PASSED' }).waitFor();
      const api = answers.filter((r) => new URL(r.url()).pathname.startsWith('/v1/'));
      expect(api.filter((r) => r.status() === 429).map((r) => r.url())).toEqual([]);
      // Over two hundred live events reached the page; it asked the server a handful of times.
      expect(await page.evaluate(() => (globalThis as unknown as { __troupe: { events: number } }).__troupe.events)).toBeGreaterThanOrEqual(120);
      expect(api.length).toBeLessThan(20);
    } finally {
      await browser.close();
    }
  });
});
