import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/engine.js';
import { startTestServer } from '../helpers/server.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'troupe.js');
const dir = tempDir('troupe-remote-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function troupe(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('troupe run --server', () => {
  it('submits through the API, follows the live channel and reports like the embedded mode', async () => {
    await using s = await startTestServer({ EXECUTION_RETRY_DELAY_SECONDS: '0' }, {});
    const token = await s.token('carol', ['runner']);
    const file = join(dir, 'remote.json');
    writeFileSync(
      file,
      JSON.stringify({
        name: 'remote',
        items: [
          { name: 'ok', type: 'GENERIC', steps: [{ action: 'sleep', ms: 20 }] },
          { name: 'broken', type: 'GENERIC', retry: { maxAttempts: 1 }, steps: [{ action: 'http', request: { method: 'GET', url: 'http://127.0.0.1:1/' } }] },
        ],
      }),
    );
    const junit = join(dir, 'remote.xml');
    const json = join(dir, 'remote.report.json');
    const { code, stdout, stderr } = await troupe(['run', file, '--server', s.url, '--junit', junit, '--json', json], { TROUPE_TOKEN: token });
    expect(stderr).toBe('');
    expect(stdout).toMatch(/Submitted run run_\w+ on http:\/\/127\.0\.0\.1:\d+: 2 execution\(s\)/);
    expect(stdout).toMatch(/✓ ok PASSED/);
    expect(stdout).toMatch(/✗ broken ERROR/);
    expect(stdout).toContain('1 passed, 1 failed, 0 skipped');
    expect(code).toBe(1);
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toContain('tests="2"');
    expect(xml).toContain('<error');
    const runId = /run (run_\w+)/.exec(stdout)![1]!;
    // The server's own report (GET /v1/runs/:id/report), written as it came.
    const report = JSON.parse(readFileSync(json, 'utf8')) as { run: { id: string }; summary: Record<string, number> };
    expect(report.run.id).toBe(runId);
    expect(report.summary).toMatchObject({ total: 2, passed: 1, errors: 1 });
    const status = await troupe(['status', runId, '--server', s.url, '--token', token]);
    expect(JSON.parse(status.stdout)).toMatchObject({ id: runId, status: 'FAILED', counts: { PASSED: 1, ERROR: 1 } });
    expect(status.code).toBe(1);
  });

  it('exit 0 when everything passed, with the flags set on the run; exit 2 for a bad file or flag, named, nothing submitted (SPEC §8)', async () => {
    await using s = await startTestServer();
    const token = await s.token('carol', ['runner']);
    const file = join(dir, 'passing.json');
    writeFileSync(file, JSON.stringify({ name: 'passing', items: [{ name: 'x', type: 'GENERIC', steps: [{ action: 'noop' }] }] }));
    const ok = await troupe(['run', file, '--server', s.url, '--label', 'repository=acme/shop', '--label', 'branch=main', '--priority', 'HIGH', '--max-parallel', '2'], { TROUPE_TOKEN: token });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const runId = /run (run_\w+)/.exec(ok.stdout)![1]!;
    const run = await s.request('GET', `/v1/runs/${runId}`, { token });
    expect(run.body).toMatchObject({ status: 'PASSED', priority: 'HIGH', maxParallel: 2, labels: { repository: 'acme/shop', branch: 'main' } });

    const runs = async () => (await s.request('GET', '/v1/runs', { token })).body.items.length as number;
    const before = await runs();
    const badFile = join(dir, 'bad-item.json');
    writeFileSync(badFile, JSON.stringify({ items: [{ name: 'x', type: 'GENERIC', steps: [{ action: 'teleport' }] }] }));
    const bad = await troupe(['run', badFile, '--server', s.url], { TROUPE_TOKEN: token });
    expect(bad.stderr).toContain('teleport');
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.code).toBe(2);
    const badLabel = await troupe(['run', file, '--server', s.url, '--label', 'no-equals-sign'], { TROUPE_TOKEN: token });
    expect(badLabel.stderr).toContain('--label');
    expect(badLabel.code).toBe(2);
    expect(await runs()).toBe(before);
  });

  it('a refused credential or an unreachable server is exit 3 with a one-line message and no stack trace (SPEC §8)', async () => {
    await using s = await startTestServer();
    const file = join(dir, 'one.json');
    writeFileSync(file, JSON.stringify({ items: [{ name: 'x', type: 'GENERIC', steps: [{ action: 'noop' }] }] }));
    const bad = await troupe(['run', file, '--server', s.url, '--token', 'not-a-token']);
    expect(bad.stderr).toMatch(/^troupe: POST \/v1\/runs: 401 /);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.code).toBe(3);
    const viewer = await troupe(['run', file, '--server', s.url, '--token', await s.token('vera', ['viewer'])]);
    expect(viewer.stderr).toMatch(/^troupe: POST \/v1\/runs: 403 /);
    expect(viewer.code).toBe(3);
    const down = await troupe(['run', file, '--server', 'http://127.0.0.1:1', '--token', 'x']);
    expect(down.stderr).toMatch(/^troupe: cannot reach http:\/\/127\.0\.0\.1:1: /);
    expect(down.stderr.trim().split('\n')).toHaveLength(1);
    expect(down.code).toBe(3);
    const status = await troupe(['status', 'run_x', '--server', 'http://127.0.0.1:1']);
    expect(status.code).toBe(3);

    // A proxy in front of a server that is down answers 502 with a page of its own: the server cannot be reached.
    const proxy = createServer((_req, res) => res.writeHead(502, { 'content-type': 'text/html' }).end('<html><body>502 Bad Gateway</body></html>'));
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const gateway = await troupe(['run', file, '--server', url, '--token', 'x']);
      expect(gateway.stderr).toMatch(/^troupe: POST \/v1\/runs: 502 /);
      expect(gateway.stderr.trim().split('\n')).toHaveLength(1);
      expect(gateway.code).toBe(3);
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});

describe('troupe run --server with MANUAL items', () => {
  it('prints what each paused step asks and where to answer; the verdicts decide the exit code', async () => {
    await using s = await startTestServer({}, { pool: false });
    const token = await s.token('tom', ['runner']);
    const child = spawn(process.execPath, [BIN, 'run', join(import.meta.dirname, '..', '..', 'examples', 'manual', 'checkout.run.json'), '--server', s.url], {
      env: { ...process.env, TROUPE_TOKEN: token },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    for (const [step, verdict] of [[0, 'passed'], [1, 'failed']] as const) {
      const prompt = new RegExp(`POST (\\S+/v1/executions/(exe_\\w+)/steps/${step}/verdict)`);
      const deadline = Date.now() + 20_000;
      while (!prompt.test(stdout) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      const [, url, id] = prompt.exec(stdout) ?? [];
      expect(url, stdout).toBeDefined();
      expect(stdout).toContain(`? checkout by hand: awaiting the verdict for step ${step}`);
      const res = await s.request('POST', `/v1/executions/${id}/steps/${step}/verdict`, { token, body: { verdict } });
      expect(res.status, res.text).toBe(200);
    }
    expect(await exit).toBe(1);
    expect(stdout).toContain('0 passed, 1 failed, 0 skipped');
  });
});
