import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite.store.js';
import { tempDir } from '../helpers/engine.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'troupe.js');
const dir = tempDir('troupe-cli-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

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

function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('troupe run (embedded)', () => {
  it('runs the README example to PASSED and exits 0', async () => {
    const { code, stdout } = await troupe(['run', join(import.meta.dirname, '..', '..', 'examples', 'smoke.run.json')]);
    expect(stdout).toMatch(/Run run_\w+ PASSED/);
    expect(code).toBe(0);
  });

  it('waits for items scheduled later instead of ending with the run unfinished', async () => {
    // Nothing but the engine's own (unreferenced) timers is pending while they wait: the process must not end.
    // The item must be stored SCHEDULED, so its time must come after `troupe run` has started and submitted: under
    // the full suite's load that took more than 2 s (the item was then stored PENDING); the run waits for it anyway.
    const scheduledAt = new Date(Date.now() + 8_000).toISOString();
    const path = file('later.run.json', {
      name: 'later',
      items: [
        { name: 'due later', type: 'GENERIC', steps: [{ action: 'noop' }], scheduledAt },
        { name: 'due now', type: 'GENERIC', steps: [{ action: 'noop' }] },
      ],
    });
    const { code, stdout } = await troupe(['run', path], { TROUPE_DATA_DIR: join(dir, 'later-data') });
    expect(stdout).toContain('2 passed, 0 failed, 0 skipped');
    expect(code).toBe(0);
    const store = new SqliteStore({ file: join(dir, 'later-data', 'troupe.db') });
    try {
      const [run] = (await store.listRuns({ limit: 1 })).items;
      const members = await store.runMembers(run!.id);
      const events = await store.listEvents(members[0]!.id);
      expect(events.map((e) => e.to)).toEqual(['SCHEDULED', 'PENDING', 'RUNNING', 'PASSED']);
      expect(events[1]!.at).toBeGreaterThanOrEqual(Date.parse(scheduledAt));
    } finally {
      await store.close();
    }
  });

  it('runs the README HTTP example against its own local target', async () => {
    const root = join(import.meta.dirname, '..', '..');
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        [join(root, 'examples', 'http-target.mjs'), '--', process.execPath, BIN, 'run', join(root, 'examples', 'http.run.json')],
        { env: { ...process.env, TROUPE_DATA_DIR: join(dir, 'http-example') }, stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.on('exit', (c) => resolve({ code: c, stdout: out }));
    });
    expect(stdout).toContain('3 passed, 0 failed, 0 skipped');
    expect(code).toBe(0);
  });

  it('exits 1 when anything did not pass, and the JUnit report says what', async () => {
    const server = await import('node:http').then(({ createServer }) =>
      createServer((req, res) => {
        res.writeHead(req.url === '/ok' ? 200 : 500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: req.url === '/ok' }));
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const junit = join(dir, 'report.xml');
      const path = file('mixed.json', {
        name: 'mixed',
        items: [
          { name: 'ok', type: 'GENERIC', steps: [{ action: 'http', request: { method: 'GET', url: `http://127.0.0.1:${port}/ok` }, expect: { status: 200, json: { '$.ok': true } } }] },
          { name: 'broken', type: 'GENERIC', steps: [{ action: 'http', request: { method: 'GET', url: `http://127.0.0.1:${port}/bad` }, expect: { status: 200 } }] },
          { name: 'unreachable', type: 'GENERIC', retry: { maxAttempts: 1 }, steps: [{ action: 'http', request: { method: 'GET', url: 'http://127.0.0.1:1/' } }] },
        ],
      });
      const json = join(dir, 'report.json');
      const { code, stdout } = await troupe(['run', path, '--junit', junit, '--json', json]);
      expect(code).toBe(1);
      expect(stdout).toContain('1 passed, 2 failed, 0 skipped');
      // The JSON report: the same model as GET /v1/runs/:id/report (SPEC §8).
      const report = JSON.parse(readFileSync(json, 'utf8')) as {
        run: { name: string; status: string };
        summary: Record<string, number>;
        tests: { name: string; status: string; failure?: { message: string } }[];
      };
      expect(report.run).toMatchObject({ name: 'mixed', status: 'FAILED' });
      expect(report.summary).toMatchObject({ total: 3, passed: 1, failed: 1, errors: 1, skipped: 0, retried: 0, flaky: 0 });
      expect(report.tests.map((t) => [t.name, t.status])).toEqual([
        ['ok', 'PASSED'],
        ['broken', 'FAILED'],
        ['unreachable', 'ERROR'],
      ]);
      expect(report.tests[1]?.failure?.message).toContain('expected status 200, got 500');
      const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(readFileSync(junit, 'utf8'));
      const suite = xml.testsuites.testsuite;
      expect(suite).toMatchObject({ tests: '3', failures: '1', errors: '1' });
      const cases = Object.fromEntries((suite.testcase as { name: string }[]).map((c) => [c.name, c])) as Record<string, { failure?: { message: string }; error?: unknown }>;
      expect(cases.ok).not.toHaveProperty('failure');
      expect(cases.broken!.failure!.message).toContain('expected status 200, got 500');
      expect(cases.unreachable).toHaveProperty('error');
    } finally {
      server.close();
    }
  });

  it.each([
    ['a missing file', () => join(dir, 'nope.json'), /no such file/],
    ['malformed JSON', () => file('bad.json', '{ "items": [ '), /not valid JSON/],
    ['a JSON array', () => file('array.json', '[]'), /expected a JSON object/],
    ['an item without steps', () => file('nosteps.json', { items: [{ name: 'x', type: 'GENERIC' }] }), /item 0 \(x\): a GENERIC item needs at least one step/],
    ['an unknown field', () => file('unknown.json', { items: [{ name: 'x', type: 'GENERIC', steps: [{ action: 'noop' }] }], color: 1 }), /color/],
    // The same messages as over HTTP: a choice names the bad value and the accepted ones; a known action the field.
    ['an unknown step action', () => file('teleport.json', { items: [{ name: 'x', type: 'GENERIC', steps: [{ action: 'teleport' }] }] }),
      /^troupe: item 0 \(x\): step 0: unknown action "teleport"; expected one of noop, sleep, http, exec$/m],
    ['a sleep whose ms is not a number', () => file('sleep.json', { items: [{ name: 'x', type: 'GENERIC', steps: [{ action: 'sleep', ms: 'x' }] }] }),
      /^troupe: item 0 \(x\): step 0: \/ms Expected integer$/m],
    ['an unknown item type', () => file('type.json', { items: [{ name: 'x', type: 'SHELL', steps: [{ action: 'noop' }] }] }),
      /^troupe: item 0 \(x\): unknown type "SHELL"; expected one of GENERIC, BDD, MANUAL$/m],
    ['an unknown priority', () => file('priority.json', { priority: 'URGENT', items: [{ name: 'x', type: 'GENERIC', steps: [{ action: 'noop' }] }] }),
      /^troupe: run: unknown priority "URGENT"; expected one of CRITICAL, HIGH, NORMAL, LOW, DEFERRED$/m],
  ])('%s is a clear error, exit 2, nothing stored', async (_what, make, message) => {
    const data = join(dir, 'untouched');
    const { code, stderr } = await troupe(['run', make()], { TROUPE_DATA_DIR: data });
    expect(stderr).toMatch(message);
    expect(code).toBe(2);
    if (existsSync(join(data, 'troupe.db'))) {
      const store = new SqliteStore({ file: join(data, 'troupe.db') });
      expect((await store.listExecutions({ limit: 10 })).items).toHaveLength(0);
      await store.close();
    }
  });

  it('--label, --fail-fast, --max-parallel and --priority set the run over what the file says', async () => {
    const path = file('flags.json', { name: 'flags', labels: { repository: 'from/file', team: 'qa' }, items: [{ name: 'x', type: 'GENERIC', steps: [{ action: 'noop' }] }] });
    const json = join(dir, 'flags.report.json');
    const args = ['run', path, '--label', 'repository=acme/shop', '--label', 'branch=feature=x', '--fail-fast', '--max-parallel', '2', '--priority', 'HIGH'];
    const { code, stdout } = await troupe([...args, '--json', json], { TROUPE_DATA_DIR: join(dir, 'flags') });
    expect(stdout).toContain('1 passed, 0 failed, 0 skipped');
    expect(code).toBe(0);
    const { run } = JSON.parse(readFileSync(json, 'utf8')) as { run: Record<string, unknown> };
    expect(run).toMatchObject({
      labels: { repository: 'acme/shop', team: 'qa', branch: 'feature=x' },
      failFast: true,
      maxParallel: 2,
      priority: 'HIGH',
    });
  });

  it.each([
    [['--label', 'nokey'], /^troupe: --label nokey: expected key=value$/m],
    [['--max-parallel', '0'], /^troupe: --max-parallel 0: expected a whole number from 1$/m],
    [['--max-parallel', 'many'], /^troupe: --max-parallel many: expected a whole number from 1$/m],
    [['--priority', 'URGENT'], /^troupe: run: unknown priority "URGENT"; expected one of CRITICAL, HIGH, NORMAL, LOW, DEFERRED$/m],
  ])('a bad flag %j is a clear error, exit 2, nothing stored', async (flag, message) => {
    const data = join(dir, `bad-flag-${flag.join('-')}`);
    const { code, stderr } = await troupe(['run', file('flag.json', { items: [{ name: 'x', type: 'GENERIC', steps: [{ action: 'noop' }] }] }), ...flag], {
      TROUPE_DATA_DIR: data,
    });
    expect(stderr).toMatch(message);
    expect(stderr).not.toMatch(/^\s+at /m);
    expect(code).toBe(2);
    if (existsSync(join(data, 'troupe.db'))) {
      const store = new SqliteStore({ file: join(data, 'troupe.db') });
      expect((await store.listExecutions({ limit: 10 })).items).toHaveLength(0);
      await store.close();
    }
  });

  it('a report path that cannot be written is exit 2, named, before anything runs', async () => {
    const data = join(dir, 'data-bad-report');
    const ok = file('report-ok.json', { items: [{ name: 'x', type: 'GENERIC', steps: [{ action: 'noop' }] }] });
    const missing = await troupe(['run', ok, '--junit', join(dir, 'no-such-dir', 'out.xml')], { TROUPE_DATA_DIR: data });
    expect(missing.stderr.trim()).toBe(`troupe: --junit ${join(dir, 'no-such-dir', 'out.xml')}: directory ${join(dir, 'no-such-dir')} does not exist`);
    expect(missing.code).toBe(2);
    const aDirectory = await troupe(['run', ok, '--json', dir], { TROUPE_DATA_DIR: data });
    expect(aDirectory.stderr.trim()).toBe(`troupe: --json ${dir}: is a directory`);
    expect(aDirectory.code).toBe(2);
    expect(existsSync(join(data, 'troupe.db'))).toBe(false);
  });

  it('a bad configuration value names the variable and exits 2', async () => {
    const { code, stderr } = await troupe(['run', file('ok.json', { items: [{ name: 'x', type: 'GENERIC', steps: [{ action: 'noop' }] }] })], {
      EXECUTION_MAX_CONCURRENT_JOBS: 'lots',
    });
    expect(stderr).toContain('EXECUTION_MAX_CONCURRENT_JOBS: must be a number');
    expect(code).toBe(2);
  });

  it('runs a 5,000-test file in-process: its queue is sized to the file, past the server default of 1,000', async () => {
    const items = Array.from({ length: 5000 }, (_, i) => ({ name: `t${i}`, type: 'GENERIC', steps: [{ action: 'noop' }] }));
    const { code, stdout, stderr } = await troupe(['run', file('bulk.json', { name: 'bulk', items })], {
      TROUPE_DATA_DIR: join(dir, 'bulk'),
      TROUPE_STORE_SYNC: 'NORMAL',
    });
    expect(stderr).not.toContain('QUEUE_MAX_QUEUE_SIZE');
    expect(stdout).toContain('5000 passed, 0 failed, 0 skipped');
    expect(code).toBe(0);
  }, 180_000); // 5,000 executions in a child process: about 10 s on an idle machine, far more beside other work

  it('an explicit QUEUE_MAX_QUEUE_SIZE still bounds an in-process run', async () => {
    const items = Array.from({ length: 20 }, (_, i) => ({ name: `t${i}`, type: 'GENERIC', steps: [{ action: 'noop' }] }));
    const { code, stderr } = await troupe(['run', file('bounded.json', { items })], { TROUPE_DATA_DIR: join(dir, 'bounded'), QUEUE_MAX_QUEUE_SIZE: '10' });
    expect(stderr).toContain('20 more would pass QUEUE_MAX_QUEUE_SIZE (10)');
    expect(code).toBe(1);
  });

  it('runs a directory of run files as one run', async () => {
    const runs = join(dir, 'suite');
    mkdirSync(runs);
    writeFileSync(join(runs, 'a.json'), JSON.stringify({ items: [{ name: 'a', type: 'GENERIC', steps: [{ action: 'noop' }] }] }));
    writeFileSync(join(runs, 'b.json'), JSON.stringify({ items: [{ name: 'b', type: 'GENERIC', steps: [{ action: 'noop' }] }] }));
    const { code, stdout } = await troupe(['run', runs]);
    expect(stdout).toContain('2 passed, 0 failed, 0 skipped');
    expect(code).toBe(0);
  });

  it('troupe status shows a stored run and an unknown id is an error', async () => {
    const { stdout } = await troupe(['run', file('one.json', { items: [{ name: 'x', type: 'GENERIC', steps: [{ action: 'noop' }] }] })]);
    const runId = /run (run_\w+)/.exec(stdout)![1]!;
    const shown = await troupe(['status', runId]);
    expect(JSON.parse(shown.stdout)).toMatchObject({ id: runId, status: 'PASSED', total: 1, counts: { PASSED: 1 } });
    expect(shown.code).toBe(0);
    const missing = await troupe(['status', 'exe_01aaaaaaaaaaaaaaaaaaaaaaaa']);
    expect(missing.stderr).toContain('not found');
    expect(missing.code).toBe(2);
  });

  it('SIGTERM stops cleanly with exit 143; running the file again resumes the same run', async () => {
    const path = file('term.json', { idempotencyKey: 'term-1', items: [{ name: 'slowish', type: 'GENERIC', steps: [{ action: 'sleep', ms: 3000 }] }] });
    const env = { ...process.env, TROUPE_DATA_DIR: join(dir, 'term'), EXECUTION_RETRY_DELAY_SECONDS: '0' };
    const child = spawn(process.execPath, [BIN, 'run', path], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      // Once: a second SIGTERM during shutdown would (deliberately) kill the process outright.
      if (!signalled && stdout.includes('Submitted')) {
        signalled = true;
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(143);
    expect(stderr).toContain('SIGTERM: stopping');
    const again = await troupe(['run', path], { TROUPE_DATA_DIR: join(dir, 'term') });
    expect(again.stdout).toContain('Resuming run');
    expect(again.stdout).toContain('1 passed, 0 failed, 0 skipped');
    expect(again.code).toBe(0);
  });

  it('an unknown command is a usage error', async () => {
    const { code, stderr } = await troupe(['launch']);
    expect(stderr).toMatch(/unknown command/);
    expect(code).toBe(2);
  });
});
