import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/engine.js';
import { startTestServer } from '../helpers/server.js';

/** `troupe run --html <file>` (SPEC §8): the report as one HTML page, in-process and with --server. */

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'troupe.js');
const dir = tempDir('troupe-cli-html-');
let target: Server;
let base = '';

beforeAll(async () => {
  target = createServer((req, res) => {
    res.statusCode = req.url === '/ok' ? 200 : 500;
    res.end('{}');
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
});
afterAll(() => {
  target.close();
  rmSync(dir, { recursive: true, force: true });
});

function troupe(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, TROUPE_DATA_DIR: join(dir, 'data'), EXECUTION_RETRY_DELAY_SECONDS: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function runFile(name: string): string {
  const path = join(dir, `${name}.json`);
  const get = (p: string) => [{ action: 'http', name: `GET ${p}`, request: { method: 'GET', url: `${base}${p}` }, expect: { status: 200 } }];
  writeFileSync(
    path,
    JSON.stringify({
      name,
      labels: { repository: 'acme/shop' },
      items: [
        { name: 'passes', type: 'GENERIC', steps: get('/ok') },
        { name: 'fails <b>', type: 'GENERIC', retry: { maxAttempts: 1 }, steps: get('/bad') },
      ],
    }),
  );
  return path;
}

/** The test names in the page's order. */
const order = (page: string) => [...page.matchAll(/<li class="test"[^>]*>\s*<h3>.*?<\/span> (.+?)<\/h3>/g)].map((m) => m[1]);

function expectPage(page: string, name: string, runId: string): void {
  expect(page).toMatch(/^<!DOCTYPE html>/);
  expect(page).toContain(`<code>${runId}</code>`);
  expect(page).toContain(`<title>${name} — FAILED`);
  expect(page).toContain('repository=acme/shop');
  expect(order(page)).toEqual(['fails &lt;b&gt;', 'passes']);
  expect(page).toContain('expected status 200, got 500');
  expect(page).toContain('<div data-stat="passed"><dt>Passed</dt><dd>1</dd></div>');
  expect(page).toContain('<div data-stat="failed"><dt>Failed</dt><dd>1</dd></div>');
}

describe('troupe run --html', () => {
  it('writes the report as one HTML page beside --json, in-process', async () => {
    const html = join(dir, 'local.html');
    const json = join(dir, 'local.json');
    const { code, stdout, stderr } = await troupe(['run', runFile('local'), '--html', html, '--json', json]);
    expect(stderr).toBe('');
    expect(code).toBe(1);
    expect(stdout).toContain(`HTML report written to ${html}`);
    // Not a terminal: plain progress lines, no bar.
    expect(stdout).toContain('✓ passes PASSED');
    expect(stdout).not.toContain('\r');
    const report = JSON.parse(readFileSync(json, 'utf8')) as { run: { id: string } };
    expectPage(readFileSync(html, 'utf8'), 'local', report.run.id);
  });

  it('a second run of the series on the same data dir compares with the first, in the JSON and the page', async () => {
    const file = runFile('series');
    const first = join(dir, 'series-1.json');
    const second = join(dir, 'series-2.json');
    const html = join(dir, 'series-2.html');
    expect((await troupe(['run', file, '--json', first])).code).toBe(1);
    expect((await troupe(['run', file, '--json', second, '--html', html])).code).toBe(1);
    const base = JSON.parse(readFileSync(first, 'utf8')) as { run: { id: string }; comparison?: unknown };
    expect(base).not.toHaveProperty('comparison');
    const report = JSON.parse(readFileSync(second, 'utf8')) as { comparison: Record<string, unknown> };
    // `slower` is left out: how long a test takes on a loaded machine is not this test's business.
    expect(report.comparison).toMatchObject({ baseRunId: base.run.id, newFailures: [], fixed: [], stillFailing: ['fails <b>'], flaky: [], added: [], removed: [] });
    const page = readFileSync(html, 'utf8');
    expect(page).toContain(base.run.id);
    expect(page).toMatch(/Still failing \(1\)/);
  });

  it('with --server, writes the page from the server’s report', async () => {
    await using s = await startTestServer({ EXECUTION_RETRY_DELAY_SECONDS: '0' });
    const token = await s.token('carol', ['runner']);
    const html = join(dir, 'remote.html');
    const { code, stdout, stderr } = await troupe(['run', runFile('remote'), '--server', s.url, '--html', html], { TROUPE_TOKEN: token });
    expect(stderr).toBe('');
    expect(code).toBe(1);
    const runId = /run (run_\w+)/.exec(stdout)![1]!;
    const page = readFileSync(html, 'utf8');
    expectPage(page, 'remote', runId);
    // The same page the server renders, but for the run's wall time, which runs on to now on each request.
    const served = await s.request('GET', `/v1/runs/${runId}/report?format=html`, { token });
    const noDuration = (p: string) => p.replace(/<div data-stat="duration">.*?<\/div>/, '');
    expect(noDuration(page)).toBe(noDuration(served.text));
  });
});
