/**
 * The dashboard's run page watching a 10,000-execution run of noop items, in a real headless Chromium against a
 * real `troupe serve`. Not part of `npm run bench` (it needs Chromium and measures the browser, not the engine);
 * run it by hand:
 *
 *   npm run bench:dashboard                       # = npm run build && node dist/bench/dashboard-10k.js
 *   BENCH_N=2000 BENCH_LEAD_MS=10000 npm run bench:dashboard
 *
 * Env: BENCH_N (executions, default 10 000); BENCH_LEAD_MS (how far ahead the run's items are scheduled, so the
 * page is open and subscribed before the first event; default 20 000); CHROMIUM_PATH (default
 * /usr/bin/chromium).
 *
 * Prints one JSON object: the paints (`window.__troupe.paints`, ms from a live event's arrival to the frame that
 * painted it) as count, p50, p99 and max (the page keeps only its newest samples, so they are taken out every
 * 250 ms; `paintsCoverAllEvents` says whether there is one for every event); the live events the page received; the page's JS heap used
 * (CDP Runtime.getHeapUsage, after a forced collection) with the run loaded and still scheduled, and after it
 * ended; the rows on the page; and the wall time from the first execution starting to the page showing PASSED.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type CDPSession, type Page } from 'playwright-core';
import { benchInt, summarize } from './common.js';

const N = benchInt('BENCH_N', 10_000);
const LEAD_MS = benchInt('BENCH_LEAD_MS', 20_000);
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const DRAIN_EVERY_MS = 250;
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'troupe.js');

interface Hook {
  paints: number[];
  events: number;
}

async function until<T>(check: () => Promise<T | undefined | null | false>, what: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function heapUsed(cdp: CDPSession): Promise<number> {
  await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize } = await cdp.send('Runtime.getHeapUsage');
  return usedSize;
}

async function hook(page: Page): Promise<Hook | null> {
  return page.evaluate(() => {
    const h = (globalThis as unknown as { __troupe?: Hook }).__troupe;
    return h ? { paints: [...h.paints], events: h.events } : null;
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'troupe-dashboard-bench-'));
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: {
      ...process.env,
      PORT: '0',
      TROUPE_DATA_DIR: dir,
      LOGGING_LEVEL: 'warn',
      TROUPE_STORE_SYNC: 'NORMAL',
      API_RATE_LIMIT_PER_MINUTE: '1000000',
      QUEUE_MAX_QUEUE_SIZE: String(Math.max(1000, N * 2)),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--enable-precise-memory-info'] });
  try {
    const port = await until(() => Promise.resolve(/serving on http:\/\/localhost:(\d+)/.exec(out)?.[1]), 'troupe serve to listen', 60_000);
    const key = /^\s+(troupe_\S+)$/m.exec(out)?.[1];
    if (key === undefined) throw new Error(`no admin key printed:\n${out}`);
    const base = `http://127.0.0.1:${port}`;
    const api = async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 500)}`);
      return JSON.parse(text) as Record<string, unknown>;
    };

    const scheduledAt = new Date(Date.now() + LEAD_MS).toISOString();
    const items = Array.from({ length: N }, (_, i) => ({ name: `noop ${i + 1}`, type: 'GENERIC', steps: [{ action: 'noop' }], scheduledAt }));
    const run = (await api('POST', '/v1/runs', { name: `dashboard ${N}`, items })) as { id: string };

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const cdp = await page.context().newCDPSession(page);
    await page.goto(`${base}/#/runs/${run.id}`);
    await page.getByRole('textbox', { name: 'API key or token' }).fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('[data-run-status]').waitFor({ timeout: 120_000 });
    await page.locator('[data-live="live"]').waitFor({ timeout: 60_000 });
    await page.locator('[data-execution-id]').first().waitFor({ timeout: 120_000 });
    const runBefore = (await api('GET', `/v1/runs/${run.id}`)) as { counts: Record<string, number> };
    const startedEarly = N - (runBefore.counts.SCHEDULED ?? 0);
    const heapBefore = await heapUsed(cdp);
    const perfBefore = await page.evaluate(() => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? null);
    const eventsBefore = (await hook(page))?.events ?? null;

    // The page keeps a bounded number of paint samples: take them out as they come, so every event counts.
    const samples: number[] = [];
    const drain = async () => {
      samples.push(...(await page.evaluate(() => (globalThis as unknown as { __troupe?: Hook }).__troupe?.paints.splice(0) ?? [])));
    };
    let draining = true;
    const drainer = (async () => {
      while (draining) {
        await drain();
        await new Promise((resolve) => setTimeout(resolve, DRAIN_EVERY_MS));
      }
    })();

    // The items become due at `scheduledAt`; from then, the page follows the run to its end.
    await page.locator('[data-run-status]', { hasText: 'PASSED' }).waitFor({ timeout: LEAD_MS + 30 * 60_000 });
    const shownAt = Date.now();
    // The last events' frames: until there is a sample for every event received (or a few seconds pass).
    await until(
      async () => {
        await drain();
        const events = (await hook(page))?.events;
        return events !== undefined && samples.length >= events;
      },
      'a paint for every event',
      10_000,
    ).catch(() => undefined);
    draining = false;
    await drainer;
    const firstStart = Date.parse(scheduledAt);
    const ended = (await api('GET', `/v1/runs/${run.id}`)) as { status: string; counts: Record<string, number> };
    const heapAfter = await heapUsed(cdp);
    const perfAfter = await page.evaluate(() => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? null);
    const measured = await hook(page);
    const rows = await page.locator('[data-execution-id]').count();
    const paints = samples.length > 0 ? summarize('live event arrival → frame painted (ms)', samples) : null;

    const result = {
      scenario: 'dashboard-10k',
      n: N,
      run: { id: run.id, status: ended.status, counts: ended.counts },
      startedBeforePageReady: startedEarly,
      paints,
      liveEvents: measured?.events ?? null,
      paintsCoverAllEvents: measured ? samples.length >= measured.events : null,
      liveEventsBeforeStart: eventsBefore,
      heap: {
        measures: 'CDP Runtime.getHeapUsage usedSize after HeapProfiler.collectGarbage, bytes',
        before: heapBefore,
        after: heapAfter,
        growth: heapAfter - heapBefore,
        performanceMemoryBefore: perfBefore,
        performanceMemoryAfter: perfAfter,
      },
      rowsOnPage: rows,
      scheduledToShownPassedMs: shownAt - firstStart,
      hookPresent: measured !== null,
      node: process.version,
      chromium: browser.version(),
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await browser.close();
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
