import type { Browser, BrowserContext, Page, WebSocket } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/chromium.js';
import { waitFor } from '../helpers/wait.js';
import {
  apiStatuses,
  expectStatuses,
  liveState,
  runEnded,
  screenshot,
  serve,
  shownStatuses,
  signIn,
  startProxy,
  watchPage,
  type CuttableProxy,
  type PageElement,
  type PageGlobals,
  type Served,
} from './support.js';

/**
 * The web dashboard (SPEC §9) in a real headless Chromium, served by a real `troupe serve` child process and
 * reached through a TCP proxy that can cut the page's connections. Everything a test waits for is a state:
 * a DOM state, an API state, the live indicator; never a fixed time.
 */

let s: Served;
let proxy: CuttableProxy;
let browser: Browser;
let alice: string;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  // Two jobs at a time: the runs below go in waves, so their events are spread over seconds.
  s = await serve({ EXECUTION_MAX_CONCURRENT_JOBS: '2' });
  proxy = await startProxy(s.port);
  alice = await s.createKey('alice at the dashboard', 'runner', 'alice');
  browser = await launchChromium();
});
afterEach(async () => {
  await Promise.all(contexts.splice(0).map((c) => c.close()));
  proxy.allow();
});
afterAll(async () => {
  await browser?.close();
  await proxy?.[Symbol.asyncDispose]();
  await s?.[Symbol.asyncDispose]();
});

async function newPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(context);
  return context.newPage();
}

/** Marks the document, so a later check can tell that it was never reloaded. */
async function markDocument(page: Page): Promise<void> {
  await page.evaluate(() => {
    (globalThis as unknown as { __notReloaded: boolean }).__notReloaded = true;
  });
}
async function expectNotReloaded(page: Page): Promise<void> {
  expect(await page.evaluate(() => (globalThis as unknown as { __notReloaded?: boolean }).__notReloaded)).toBe(true);
}

const noop = (name: string) => ({ name, type: 'GENERIC', steps: [{ action: 'noop' }] });
const sleeper = (name: string, ms: number, steps = 1) => ({
  name,
  type: 'GENERIC',
  steps: Array.from({ length: steps }, (_, i) => ({ action: 'sleep', ms, name: `wait ${i + 1}` })),
});
/** Fails on its only attempt: the server answers 404 where 200 is expected. */
const failing = (name: string) => ({
  name,
  type: 'GENERIC',
  retry: { maxAttempts: 1 },
  steps: [{ action: 'http', name: 'GET /nowhere', request: { method: 'GET', url: `${s.base}/nowhere` }, expect: { status: 200 } }],
});

async function submitRun(key: string, body: Record<string, unknown>): Promise<{ id: string; executionIds: string[] }> {
  const res = await s.api<{ id: string; executionIds: string[] }>(key, 'POST', '/v1/runs', body);
  expect(res.status, res.text).toBe(201);
  return res.body;
}

describe('dashboard: serving', () => {
  it('serves the app at / with hashed, immutable assets and a no-cache index; the page asks nothing of another origin', async () => {
    const index = await fetch(`${s.base}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/^text\/html/);
    expect(index.headers.get('cache-control')).toMatch(/no-cache/);
    const html = await index.text();
    const assets = [...new Set([...html.matchAll(/(?:src|href)="([^"]*\/assets\/[^"]+)"/g)].map((m) => new URL(m[1]!, `${s.base}/`).pathname))];
    expect(assets.length, html).toBeGreaterThan(0);
    for (const path of assets) {
      expect(path).toMatch(/^\/assets\/[\w.-]+-[\w-]{6,}\.[a-z0-9]+$/);
      const res = await fetch(`${s.base}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('cache-control'), path).toMatch(/immutable/);
      await res.arrayBuffer();
    }

    const page = await newPage();
    const seen = watchPage(page, proxy.url);
    const assetAnswers: { url: string; cacheControl: string | undefined }[] = [];
    page.on('response', (r) => {
      if (new URL(r.url()).pathname.startsWith('/assets/')) assetAnswers.push({ url: r.url(), cacheControl: r.headers()['cache-control'] });
    });
    await signIn(page, proxy.url, s.adminKey);
    await liveState(page, 'live');
    for (const [link, heading] of [
      ['Queue', 'Queue and workers'],
      ['Manual testing', 'Manual testing'],
      ['Runs', 'Runs'],
    ] as const) {
      await page.getByRole('navigation').getByRole('link', { name: link }).click();
      await page.getByRole('heading', { name: heading, exact: true }).waitFor();
    }
    expect(assetAnswers.length).toBeGreaterThan(0);
    for (const a of assetAnswers) expect(a.cacheControl, a.url).toMatch(/immutable/);
    expect(seen.requests.some((u) => u.startsWith(`ws://${new URL(proxy.url).host}/v1/live`))).toBe(true);
    expect(seen.foreign).toEqual([]);
    expect(seen.errors).toEqual([]);
  });
});

describe('dashboard: signing in', () => {
  it('refuses a wrong key with an alert, signs in with the right one, keeps it for the tab, and signs out', async () => {
    const page = await newPage();
    const seen = watchPage(page, proxy.url);
    await page.goto(`${proxy.url}/`);
    const field = page.getByRole('textbox', { name: 'API key or token' });
    await screenshot(page, 'sign-in');
    await field.fill('troupe_this-key-does-not-exist');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect((await alert.innerText()).trim()).not.toBe('');
    expect(await field.isVisible()).toBe(true);
    expect(await page.getByRole('link', { name: 'Runs' }).count()).toBe(0);
    await screenshot(page, 'sign-in-refused');

    await field.fill(alice);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const nav = page.getByRole('navigation');
    for (const name of ['Runs', 'Queue', 'Manual testing']) await nav.getByRole('link', { name }).waitFor();
    expect(await page.getByRole('button', { name: 'Sign out' }).isVisible()).toBe(true);
    // The default route is the runs list.
    await page.getByRole('heading', { name: 'Runs', exact: true }).waitFor();
    expect(new URL(page.url()).hash === '' || new URL(page.url()).hash === '#/runs').toBe(true);
    const stored = () => page.evaluate(() => Object.values((globalThis as unknown as PageGlobals).sessionStorage).join('\n'));
    expect(await stored()).toContain(alice);

    // Kept for the tab: a reload stays signed in; another tab is not signed in.
    await page.reload();
    await nav.getByRole('link', { name: 'Runs' }).waitFor();
    expect(await field.count()).toBe(0);
    const otherTab = await page.context().newPage();
    await otherTab.goto(`${proxy.url}/`);
    await otherTab.getByRole('textbox', { name: 'API key or token' }).waitFor();
    expect(await otherTab.getByRole('button', { name: 'Sign out' }).count()).toBe(0);
    await otherTab.close();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await field.waitFor();
    expect(await page.getByRole('link', { name: 'Runs' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Sign out' }).count()).toBe(0);
    expect(await stored()).not.toContain(alice);
    await page.reload();
    await field.waitFor();
    expect(seen.errors).toEqual([]);
    expect(seen.foreign).toEqual([]);
  });
});

describe('dashboard: runs', () => {
  it('shows a run submitted through the API, live to its final statuses, and its run page with failures first', async () => {
    const page = await newPage();
    const seen = watchPage(page, proxy.url);
    await signIn(page, proxy.url, alice, '#/runs');
    await page.getByRole('heading', { name: 'Runs', exact: true }).waitFor();
    await liveState(page, 'live');
    await markDocument(page);

    const passing = await submitRun(alice, { name: 'smoke', labels: { branch: 'release', commit: 'f00d123' }, items: [noop('one'), noop('two')] });
    const run = await submitRun(alice, {
      name: 'checkout',
      labels: { branch: 'main', commit: 'abc1234' },
      items: [noop('opens the cart'), sleeper('waits for stock', 300, 2), failing('pays by card'), sleeper('sends a receipt', 200), noop('logs out')],
    });
    const row = page.locator(`[data-run-id="${run.id}"]`);
    await row.waitFor();
    expect(await row.getByRole('link', { name: 'checkout' }).getAttribute('href')).toMatch(new RegExp(`#/runs/${run.id}$`));
    expect(await row.innerText()).toContain('main');
    expect(await row.innerText()).toContain('abc1234');
    await runEnded(s, alice, run.id);
    await runEnded(s, alice, passing.id);
    await expectStatuses(page, 'data-run-id', { [run.id]: 'FAILED', [passing.id]: 'PASSED' });
    await expectNotReloaded(page);
    await screenshot(page, 'runs');

    // Filters: by status, and by label.
    await page.getByRole('combobox', { name: 'Status', exact: true }).selectOption('FAILED');
    await page.locator(`[data-run-id="${passing.id}"]`).waitFor({ state: 'detached' });
    expect(await row.isVisible()).toBe(true);
    await page.getByRole('combobox', { name: 'Status', exact: true }).selectOption({ index: 0 });
    await page.locator(`[data-run-id="${passing.id}"]`).waitFor();
    // A search field (role searchbox, a kind of textbox) labelled `Label filter`.
    const labelFilter = page.getByLabel('Label filter', { exact: true });
    await labelFilter.fill('branch=release');
    await labelFilter.press('Enter');
    await row.waitFor({ state: 'detached' });
    expect(await page.locator(`[data-run-id="${passing.id}"]`).isVisible()).toBe(true);
    await labelFilter.fill('');
    await labelFilter.press('Enter');
    await row.waitFor();

    await row.getByRole('link', { name: 'checkout' }).click();
    await page.getByRole('heading', { level: 1, name: 'checkout' }).waitFor();
    expect(new URL(page.url()).hash).toBe(`#/runs/${run.id}`);
    expect((await page.locator('[data-run-status]').innerText()).trim()).toBe('FAILED');
    const final = await apiStatuses(s, alice, run.id);
    expect(Object.values(final).sort()).toEqual(['FAILED', 'PASSED', 'PASSED', 'PASSED', 'PASSED']);
    await expectStatuses(page, 'data-execution-id', final);
    const order = await page.locator('[data-execution-id]').evaluateAll((rows) => (rows as unknown as PageElement[]).map((r) => r.getAttribute('data-execution-id')));
    expect(new Set(order)).toEqual(new Set(run.executionIds));
    expect(order[0]).toBe(run.executionIds[2]); // the failure first
    const failedRow = page.locator(`[data-execution-id="${run.executionIds[2]}"]`);
    expect(await failedRow.innerText()).toContain('pays by card');
    for (const name of ['JSON report', 'JUnit report', 'HTML report']) {
      expect(await page.getByRole('link', { name }).or(page.getByRole('button', { name })).count(), name).toBe(1);
    }
    expect(await page.getByRole('button', { name: 'Cancel run' }).count()).toBe(0);

    // The failure's details: its step and error.
    await failedRow.getByRole('button', { name: 'pays by card', exact: true }).click();
    await failedRow.getByText(/expected status 200/).first().waitFor();
    await screenshot(page, 'run');

    // Retry on the finished failure makes a new execution of it: one, however eagerly the button is pressed.
    const retries: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().endsWith('/retry')) retries.push(r.url());
    });
    await failedRow.getByRole('button', { name: 'Retry' }).dblclick();
    await page.getByText(/pays by card retried as exe_/).waitFor();
    const reruns = async () => {
      const res = await s.api<{ items: { id: string; rerunOf: string | null }[] }>(alice, 'GET', '/v1/executions?limit=100');
      return res.body.items.filter((e) => e.rerunOf === run.executionIds[2]);
    };
    expect(await reruns()).toHaveLength(1);
    expect(retries).toHaveLength(1);
    expect((await reruns())[0]!.id).not.toBe(run.executionIds[2]);
    await expectNotReloaded(page);
    expect(seen.errors).toEqual([]);
    expect(seen.foreign).toEqual([]);
  });

  it('cancels an unfinished run from the runs page', async () => {
    const page = await newPage();
    await signIn(page, proxy.url, alice, '#/runs');
    await liveState(page, 'live');
    const run = await submitRun(alice, { name: 'long haul', items: [sleeper('first', 60_000), sleeper('second', 60_000), sleeper('third', 60_000)] });
    const row = page.locator(`[data-run-id="${run.id}"]`);
    await row.getByRole('button', { name: 'Cancel run' }).click();
    expect(await runEnded(s, alice, run.id)).toMatchObject({ status: 'CANCELLED' });
    await expectStatuses(page, 'data-run-id', { [run.id]: 'CANCELLED' });
    await row.getByRole('button', { name: 'Cancel run' }).waitFor({ state: 'detached' });
  });

  it('loses nothing when its connection is cut mid-run: reconnecting, then live, and every execution reaches its final status without a reload', async () => {
    const page = await newPage();
    const seen = watchPage(page, proxy.url);
    const sockets: WebSocket[] = [];
    const subscribes: { socket: number; message: { op: string; topics: string[]; since?: number } }[] = [];
    page.on('websocket', (ws) => {
      const index = sockets.push(ws) - 1;
      ws.on('framesent', (f) => {
        if (typeof f.payload !== 'string') return;
        try {
          const message = JSON.parse(f.payload) as { op: string; topics: string[]; since?: number };
          if (message.op === 'subscribe') subscribes.push({ socket: index, message });
        } catch {
          // not JSON: not ours to judge here
        }
      });
    });
    // Twelve waves of two jobs (two sleeps each, 0.8 s a wave), with a failure in the last wave: long enough that
    // executions still pass after the cut even when the page took its time to open.
    const items = [
      ...Array.from({ length: 23 }, (_, i) => sleeper(`wave ${Math.floor(i / 2) + 1} job ${(i % 2) + 1}`, 400, 2)),
      failing('the last one fails'),
    ];
    const run = await submitRun(alice, { name: 'through a cut', items });
    await signIn(page, proxy.url, alice, `#/runs/${run.id}`);
    await page.getByRole('heading', { level: 1, name: 'through a cut' }).waitFor();
    await liveState(page, 'live');
    await markDocument(page);
    // Events are reaching the page: something shows RUNNING or PASSED.
    await page.waitForFunction(() =>
      [...(globalThis as unknown as PageGlobals).document.querySelectorAll('[data-execution-id] [data-status]')].some((e) => /RUNNING|PASSED/.test(e.textContent ?? '')),
    );

    proxy.refuse();
    proxy.cut();
    const socketsAtCut = sockets.length;
    await liveState(page, 'reconnecting');
    const before = await shownStatuses(page, 'data-execution-id');
    // While the page cannot reach the server, executions move on: at least two more pass.
    const passedBefore = Object.values(before).filter((v) => v === 'PASSED').length;
    await waitFor(async () => {
      const now = await apiStatuses(s, alice, run.id);
      return Object.values(now).filter((v) => v === 'PASSED').length >= passedBefore + 2;
    }, 'executions to pass while the page is cut off');
    expect(await page.locator('[data-live="reconnecting"]').count()).toBe(1);
    expect(await page.locator('[data-live]').innerText()).toMatch(/reconnecting/i);
    proxy.allow();

    await liveState(page, 'live');
    expect(await runEnded(s, alice, run.id)).toMatchObject({ status: 'FAILED' });
    const final = await apiStatuses(s, alice, run.id);
    expect(Object.values(final).filter((v) => v === 'PASSED')).toHaveLength(items.length - 1);
    await expectStatuses(page, 'data-execution-id', final);
    await page.locator('[data-run-status]', { hasText: 'FAILED' }).waitFor();
    await expectNotReloaded(page);
    // It resumed where it left off: the new socket's subscription carried `since`.
    const resumed = subscribes.filter((x) => x.socket >= socketsAtCut);
    expect(resumed.length, JSON.stringify(subscribes)).toBeGreaterThan(0);
    expect(resumed.some((x) => typeof x.message.since === 'number'), JSON.stringify(subscribes)).toBe(true);
    expect(seen.errors).toEqual([]);
    expect(seen.foreign).toEqual([]);
  });
});

describe('dashboard: manual testing', () => {
  it('completes a MANUAL execution from the console: a verdict with a comment, the next instruction, PASSED', async () => {
    const created = await s.api<{ id: string }>(alice, 'POST', '/v1/executions', {
      name: 'refund by phone',
      type: 'MANUAL',
      steps: [
        { instruction: 'Call the support line and ask for a refund', expected: 'The agent opens a refund ticket' },
        { instruction: 'Check the refund email', expected: 'The email names the ticket number' },
      ],
    });
    expect(created.status, created.text).toBe(201);
    const id = created.body.id;
    await waitFor(async () => (await s.api<{ status: string }>(alice, 'GET', `/v1/executions/${id}`)).body.status === 'PAUSED', 'the execution to await step 1');

    const page = await newPage();
    const seen = watchPage(page, proxy.url);
    await signIn(page, proxy.url, alice, '#/manual');
    await page.getByRole('heading', { name: 'Manual testing', exact: true }).waitFor();
    await liveState(page, 'live');
    await markDocument(page);
    const card = page.locator(`[data-execution-id="${id}"]`);
    await card.getByText('Call the support line and ask for a refund').first().waitFor();
    expect(await card.getByText('The agent opens a refund ticket').first().isVisible()).toBe(true);
    for (const name of ['Pass', 'Fail', 'Skip']) expect(await card.getByRole('button', { name, exact: true }).isVisible(), name).toBe(true);
    await screenshot(page, 'manual');

    await card.getByRole('textbox', { name: 'Comment' }).fill('ticket T-1042 opened');
    await card.getByRole('button', { name: 'Pass', exact: true }).click();
    await card.getByText('Check the refund email').first().waitFor();
    expect(await card.getByText('The email names the ticket number').first().isVisible()).toBe(true);
    await card.getByRole('button', { name: 'Pass', exact: true }).click();
    await card.waitFor({ state: 'detached' });

    const done = await s.api<{ status: string }>(alice, 'GET', `/v1/executions/${id}`);
    expect(done.body.status).toBe('PASSED');
    const steps = await s.api<{ items: { index: number; status: string; output?: unknown }[] }>(alice, 'GET', `/v1/executions/${id}/steps`);
    expect(steps.body.items.map((st) => [st.index, st.status])).toEqual([
      [0, 'PASSED'],
      [1, 'PASSED'],
    ]);
    expect(JSON.stringify(steps.body.items[0]!.output)).toContain('ticket T-1042 opened');
    await expectNotReloaded(page);
    expect(seen.errors).toEqual([]);
  });
});

describe('dashboard: screenshots', () => {
  it('takes one of each page as an admin', async () => {
    const page = await newPage();
    await signIn(page, proxy.url, s.adminKey, '#/runs');
    await page.getByRole('heading', { name: 'Runs', exact: true }).waitFor();
    await liveState(page, 'live');
    await screenshot(page, 'runs-admin');
    const any = page.locator('[data-run-id]').first();
    await any.waitFor();
    await any.getByRole('link').first().click();
    await page.locator('[data-run-status]').waitFor();
    await screenshot(page, 'run-admin');
    await page.getByRole('navigation').getByRole('link', { name: 'Queue' }).click();
    await page.getByRole('heading', { name: 'Queue and workers', exact: true }).waitFor();
    await screenshot(page, 'queue');
    await page.getByRole('navigation').getByRole('link', { name: 'Manual testing' }).click();
    await page.getByRole('heading', { name: 'Manual testing', exact: true }).waitFor();
    await screenshot(page, 'manual-admin');
  });
});
