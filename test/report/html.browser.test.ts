import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/chromium.js';
import { item, tempDir } from '../helpers/engine.js';
import { startTestServer, type SubmittedRun } from '../helpers/server.js';
import { runEnded, startTarget } from '../helpers/target.js';

/**
 * The HTML report in a real headless Chromium, opened from a file as a CI artifact is: it asks for nothing over
 * the network, shows the right counts, lists the failure first with its message, and its filter works.
 */

const dir = tempDir('troupe-html-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A run with a pass, a failure and a flaky test (500 once, then 200, passing on its retry); its page as a file. */
async function reportFile(): Promise<string> {
  const target = await startTarget();
  const { get } = target;
  try {
    await using s = await startTestServer({ EXECUTION_RETRY_DELAY_SECONDS: '0' });
    const alice = await s.client('alice');
    const submitted = await alice.post<SubmittedRun>('/v1/runs', {
      name: 'browser',
      items: [
        item('passes', get('/ok')),
        item('flaky', get('/flaky'), { retry: { maxAttempts: 2, retryOn: ['FAILED'] } }),
        item('fails', get('/bad'), { retry: { maxAttempts: 1 } }),
      ],
    });
    expect(submitted.status, submitted.text).toBe(201);
    const runId = submitted.body.id;
    await runEnded(alice, runId);
    const res = await alice.get(`/v1/runs/${runId}/report?format=html`);
    expect(res.status).toBe(200);
    const file = join(dir, 'report.html');
    writeFileSync(file, res.text);
    return file;
  } finally {
    await target[Symbol.asyncDispose]();
  }
}

describe('HTML report in Chromium', () => {
  it('opens from a file with no request, shows counts and the failure first, and filters by status', async () => {
    const file = await reportFile();
    await using browser = await launchChromium();
    const page = await browser.newPage();
    // Every request but the file itself is recorded and refused; so are errors (a blocked script, a CSP report).
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith('file:')) requests.push(r.url());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text());
    });
    await page.route('**/*', (route) => (route.request().url().startsWith('file:') ? route.continue() : route.abort()));
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });

    const stats = await page.locator('.summary > div').evaluateAll((els) => els.map((el) => (el as unknown as { innerText: string }).innerText.replace(/\s+/g, ' ')));
    expect(stats.slice(0, 7)).toEqual(['Total 3', 'Passed 2', 'Failed 1', 'Errors 0', 'Skipped 0', 'Retried 1', 'Flaky 1']);
    await expect.poll(() => page.getByText('step 0 (GET /bad) failed: expected status 200, got 500').isVisible()).toBe(true);

    const tests = page.locator('li.test');
    const heading = (name: string) => tests.filter({ has: page.locator('h3', { hasText: new RegExp(`\\b${name}\\b`) }) });
    expect(await tests.locator('h3').allInnerTexts()).toEqual(['FAILED fails', 'PASSED passes', 'PASSED flaky flaky']);

    await page.getByRole('button', { name: 'Failed' }).click();
    expect(await page.getByRole('button', { name: 'Failed' }).getAttribute('aria-pressed')).toBe('true');
    expect(await heading('fails').isVisible()).toBe(true);
    expect(await heading('passes').isVisible()).toBe(false);
    expect(await heading('flaky').isVisible()).toBe(false);

    await page.getByRole('button', { name: 'Flaky' }).click();
    expect(await tests.evaluateAll((els) => els.filter((el) => !(el as unknown as { hidden: boolean }).hidden).length)).toBe(1);
    expect(await heading('flaky').isVisible()).toBe(true);

    await page.getByRole('button', { name: 'All' }).click();
    expect(await tests.evaluateAll((els) => els.filter((el) => !(el as unknown as { hidden: boolean }).hidden).length)).toBe(3);

    expect(requests).toEqual([]);
    expect(errors).toEqual([]);
  });
});
