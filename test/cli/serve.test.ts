import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir, waitFor } from '../helpers/engine.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'troupe.js');
const dir = tempDir('troupe-serve-');
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

interface Served {
  child: ChildProcess;
  stdout: () => string;
  base: string;
  exit: Promise<number | null>;
}

async function serve(): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { ...process.env, PORT: '0', TROUPE_DATA_DIR: dir, LOGGING_LEVEL: 'warn', EXECUTION_MAX_CONCURRENT_JOBS: '4', EXECUTION_RETRY_DELAY_SECONDS: '0', API_RATE_LIMIT_PER_MINUTE: '100000' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const port = await waitFor(() => /serving on http:\/\/localhost:(\d+)/.exec(out)?.[1], 'the server to listen');
  return { child, stdout: () => out, base: `http://127.0.0.1:${port}`, exit };
}

async function api<T>(base: string, key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as T };
}

describe('troupe serve', () => {
  it('prints a first-start admin key once; after SIGKILL mid-run and a restart every accepted execution finishes', async () => {
    const first = await serve();
    const key = /(troupe_[\w-]+)/.exec(first.stdout())![1]!;
    const items = Array.from({ length: 40 }, (_, i) => ({ name: `s${i}`, type: 'GENERIC', steps: [{ action: 'sleep', ms: 40 }] }));
    const created = await api<{ id: string; executionIds: string[] }>(first.base, key, 'POST', '/v1/runs', { items });
    expect(created.status).toBe(201);
    await waitFor(async () => {
      const run = await api<{ counts: Record<string, number> }>(first.base, key, 'GET', `/v1/runs/${created.body.id}`);
      return (run.body.counts.PASSED ?? 0) >= 4;
    }, 'some executions to pass');
    first.child.kill('SIGKILL');
    await first.exit;

    const second = await serve();
    expect(second.stdout()).not.toMatch(/troupe_/); // the key exists: no new one
    const run = await waitFor(async () => {
      const r = await api<{ status: string; counts: Record<string, number> }>(second.base, key, 'GET', `/v1/runs/${created.body.id}`);
      return r.body.status === 'PASSED' ? r.body : undefined;
    }, 'the run to pass after the restart');
    expect(run.counts).toEqual({ PASSED: 40 });
    for (const id of created.body.executionIds) {
      const events = await api<{ items: { seq: number; to: string }[] }>(second.base, key, 'GET', `/v1/executions/${id}/events`);
      expect(events.body.items.map((e) => e.seq)).toEqual(events.body.items.map((_, i) => i + 1));
      expect(events.body.items.filter((e) => e.to === 'PASSED')).toHaveLength(1);
    }
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);
  });
});
