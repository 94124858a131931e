import { cpSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/chromium.js';
import { tempDir } from '../helpers/engine.js';
import { liveState, runEnded, serve, signIn, startProxy } from './support.js';

/**
 * The live channel's `reset` (docs/api.md): when the server cannot replay what the page missed — here the server
 * came back on a copy of its data taken before the page's events, so the page's cursor is newer than anything
 * stored — the page reloads what it shows over REST and goes on live, without a reload of the document.
 */
describe('dashboard: a reset from the live channel', () => {
  it('reloads the runs list when the server cannot replay what it missed, then follows new runs live', async () => {
    const dir = tempDir('troupe-dashboard-reset-');
    const backup = tempDir('troupe-dashboard-backup-');
    try {
      const first = await serve({ TROUPE_DATA_DIR: dir });
      const alice = await first.createKey('alice', 'runner', 'alice');
      await first[Symbol.asyncDispose]();
      // The data as it stands before any run: keys, nothing else.
      cpSync(dir, backup, { recursive: true });

      const before = await serve({ TROUPE_DATA_DIR: dir });
      await using proxy = await startProxy(before.port);
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        const frames: string[] = [];
        page.on('websocket', (ws) => {
          ws.on('framereceived', (f) => frames.push(`< ${String(f.payload)}`));
          ws.on('framesent', (f) => frames.push(`> ${String(f.payload)}`));
        });
        await signIn(page, proxy.url, alice, '#/runs');
        await liveState(page, 'live');
        await page.evaluate(() => ((globalThis as unknown as { __kept: boolean }).__kept = true));
        const gone = (await before.api<{ id: string }>(alice, 'POST', '/v1/runs', { name: 'before the restore', items: [{ name: 'a', type: 'GENERIC', steps: [{ action: 'noop' }] }] })).body.id;
        await runEnded(before, alice, gone);
        await page.locator(`[data-run-id="${gone}"] [data-status]`, { hasText: 'PASSED' }).waitFor();

        await before[Symbol.asyncDispose]();
        await using after = await serve({ TROUPE_DATA_DIR: backup });
        proxy.retarget(after.port);
        proxy.cut();
        // The page resumes with a cursor the restored server never reached: it is told to reset, and reloads.
        await page.locator(`[data-run-id="${gone}"]`).waitFor({ state: 'detached' });
        await liveState(page, 'live');
        // It was the reset that did it (the list is also refreshed every few seconds): the server said reset, and the
        // page subscribed again from the cursor the reset named.
        const reset = frames.map((f) => /^< (\{"op":"reset".*)$/.exec(f)?.[1]).find((f) => f !== undefined);
        expect(reset, frames.join('\n')).toBeDefined();
        const { cursor } = JSON.parse(reset as string) as { cursor: number };
        expect(frames.some((f) => f.startsWith('> ') && f.includes('"op":"subscribe"') && f.includes(`"since":${cursor}`))).toBe(true);
        const fresh = (await after.api<{ id: string }>(alice, 'POST', '/v1/runs', { name: 'after the restore', items: [{ name: 'b', type: 'GENERIC', steps: [{ action: 'noop' }] }] })).body.id;
        await page.locator(`[data-run-id="${fresh}"] [data-status]`, { hasText: 'PASSED' }).waitFor();
        expect(await page.evaluate(() => (globalThis as unknown as { __kept?: boolean }).__kept)).toBe(true);
      } finally {
        await browser.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(backup, { recursive: true, force: true });
    }
  });
});
