import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/chromium.js';
import { randomSecret, signHs256 } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { apiStatuses, expectStatuses, liveState, runEnded, serve, signIn, watchPage, type Served } from './support.js';

/**
 * The dashboard when things go wrong around it: no live channel at all, a read refused once while a run page
 * loads, a principal id with characters an API key's owner cannot hold, and a status filter hiding a busy run.
 * Each test waits for states (DOM, API), never for a fixed time.
 */

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

async function newPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  return context.newPage();
}

const sleeper = (name: string, ms: number) => ({ name, type: 'GENERIC', steps: [{ action: 'sleep', ms }] });

async function submit(s: Served, key: string, body: unknown): Promise<{ id: string; executionIds: string[] }> {
  const res = await s.api<{ id: string; executionIds: string[] }>(key, 'POST', '/v1/runs', body);
  expect(res.status, res.text).toBe(201);
  return res.body;
}

describe('dashboard without a live channel (WEBSOCKET_ENABLED=false)', () => {
  it('shows a run page and the manual console over REST, and follows an unfinished run to its end', async () => {
    await using s = await serve({ WEBSOCKET_ENABLED: 'false', EXECUTION_MAX_CONCURRENT_JOBS: '2' });
    const alice = await s.createKey('alice', 'runner', 'alice');
    const run = await submit(s, alice, { name: 'no live channel', items: [sleeper('first', 1500), sleeper('second', 1500), sleeper('third', 1500)] });
    const page = await newPage();
    const seen = watchPage(page, s.base);
    await signIn(page, s.base, alice, `#/runs/${run.id}`);
    await page.getByRole('heading', { level: 1, name: 'no live channel' }).waitFor();
    await page.getByText(/live updates unavailable/).waitFor();
    await liveState(page, 'reconnecting');
    // Its executions are listed from the start, and the page reads the run again until it ended.
    for (const id of run.executionIds) await page.locator(`[data-execution-id="${id}"]`).waitFor();
    await runEnded(s, alice, run.id);
    await expectStatuses(page, 'data-execution-id', await apiStatuses(s, alice, run.id), 60_000);
    await page.locator('[data-run-status]', { hasText: 'PASSED' }).waitFor({ timeout: 60_000 });

    // The manual console lists a paused MANUAL execution without the live channel too.
    const manual = await s.api<{ id: string }>(alice, 'POST', '/v1/executions', { name: 'look at the logo', type: 'MANUAL', steps: [{ instruction: 'Open the home page', expected: 'The logo is blue' }] });
    expect(manual.status, manual.text).toBe(201);
    await waitFor(async () => (await s.api<{ status: string }>(alice, 'GET', `/v1/executions/${manual.body.id}`)).body.status === 'PAUSED', 'the MANUAL execution to pause');
    await page.getByRole('navigation').getByRole('link', { name: 'Manual testing' }).click();
    await page.locator(`[data-execution-id="${manual.body.id}"]`).getByText('Open the home page').first().waitFor();
    expect(seen.errors).toEqual([]);
  });
});

describe('dashboard under failures it recovers from', () => {
  let s: Served;
  let alice: string;
  const secret = randomSecret();
  beforeAll(async () => {
    // A server that takes JWTs prints no first-start admin key: everyone signs in with a token.
    s = await serve({ EXECUTION_MAX_CONCURRENT_JOBS: '2', TROUPE_JWT_SECRET: secret });
    alice = await signHs256(secret, 'alice', ['runner'], 'troupe');
  });
  afterAll(async () => {
    await s?.[Symbol.asyncDispose]();
  });

  it('a run page whose first read of the executions is refused (429) reads again and goes on live', async () => {
    const run = await submit(s, alice, { name: 'refused once', items: Array.from({ length: 6 }, (_, i) => sleeper(`job ${i + 1}`, 300)) });
    const page = await newPage();
    let refused = 0;
    await page.route('**/v1/runs/*/executions*', async (route) => {
      if (refused++ === 0) {
        await route.fulfill({ status: 429, contentType: 'application/json', headers: { 'retry-after': '1' }, body: JSON.stringify({ error: { code: 'RATE_LIMITED', message: 'rate limit exceeded' } }) });
      } else {
        await route.continue();
      }
    });
    await signIn(page, s.base, alice, `#/runs/${run.id}`);
    await page.getByRole('heading', { level: 1, name: 'refused once' }).waitFor();
    for (const id of run.executionIds) await page.locator(`[data-execution-id="${id}"]`).waitFor();
    expect(refused).toBeGreaterThan(1);
    await runEnded(s, alice, run.id);
    await expectStatuses(page, 'data-execution-id', await apiStatuses(s, alice, run.id));
    await page.locator('[data-run-status]', { hasText: 'PASSED' }).waitFor();
  });

  it('signs in with a token whose subject an API key could not name (auth0|…+qa@…) and works the manual console', async () => {
    const sub = 'auth0|tess+qa@example.com';
    const token = await signHs256(secret, sub, ['runner'], 'troupe');
    const created = await s.api<{ id: string }>(token, 'POST', '/v1/executions', { name: 'check the invoice', type: 'MANUAL', steps: [{ instruction: 'Open the invoice', expected: 'It shows the VAT' }] });
    expect(created.status, created.text).toBe(201);
    await waitFor(async () => (await s.api<{ status: string }>(token, 'GET', `/v1/executions/${created.body.id}`)).body.status === 'PAUSED', 'the MANUAL execution to pause');
    const page = await newPage();
    await signIn(page, s.base, token, '#/manual');
    const card = page.locator(`[data-execution-id="${created.body.id}"]`);
    await card.getByText('Open the invoice').first().waitFor();
    await card.getByRole('button', { name: 'Pass', exact: true }).click();
    await card.waitFor({ state: 'detached' });
    expect((await s.api<{ status: string }>(token, 'GET', `/v1/executions/${created.body.id}`)).body.status).toBe('PASSED');
  });

  it('with a status filter that hides a busy run, the runs list reads the list again once for it, not at every event', async () => {
    const page = await newPage();
    await signIn(page, s.base, alice, '#/runs');
    await liveState(page, 'live');
    await page.getByRole('combobox', { name: 'Status', exact: true }).selectOption('FAILED');
    let reads = 0;
    page.on('request', (r) => {
      if (r.method() === 'GET' && new URL(r.url()).pathname === '/v1/runs') reads++;
    });
    const started = Date.now();
    // Some 180 events over six seconds or more, none of which can bring this run into a list of FAILED runs.
    const busy = await submit(s, alice, { name: 'busy and passing', items: Array.from({ length: 60 }, (_, i) => sleeper(`job ${i + 1}`, 200)) });
    await runEnded(s, alice, busy.id);
    // Then a run that fails: the list shows it once its events made the page read the list again (after every
    // event of the busy run reached the page), without waiting for the 15 s refresh.
    const failing = await submit(s, alice, {
      name: 'fails',
      items: [{ name: 'nowhere', type: 'GENERIC', retry: { maxAttempts: 1 }, steps: [{ action: 'http', request: { method: 'GET', url: `${s.base}/nowhere` }, expect: { status: 200 } }] }],
    });
    await runEnded(s, alice, failing.id);
    await page.locator(`[data-run-id="${failing.id}"] [data-status]`, { hasText: 'FAILED' }).waitFor();
    // Per run, a read when it first showed up in the events and one when its executions stopped ending; one for the
    // filter just chosen; and the list's own refresh every 15 s. Not one per event.
    const refreshes = Math.floor((Date.now() - started) / 15_000);
    expect(reads, `${reads} reads in ${Date.now() - started} ms`).toBeLessThanOrEqual(refreshes + 5);
  });
});
