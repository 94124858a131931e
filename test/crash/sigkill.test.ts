import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite.store.js';
import { isTerminal } from '../../src/core/statuses.js';
import { tempDir } from '../helpers/engine.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'troupe.js');
const ITEMS = 150;

interface Spawned {
  child: ChildProcess;
  lines: string[];
  exit: Promise<number | null>;
}

function troupeRun(file: string, dir: string): Spawned {
  const child = spawn(process.execPath, [BIN, 'run', file], {
    env: {
      ...process.env,
      TROUPE_DATA_DIR: dir,
      EXECUTION_MAX_CONCURRENT_JOBS: '6',
      EXECUTION_RETRY_DELAY_SECONDS: '0',
      EXECUTION_RETRY_MAX_ATTEMPTS: '10',
      TROUPE_STORE_SYNC: 'NORMAL',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let buffer = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr.on('data', () => undefined);
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, exit };
}

async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const finished = (s: Spawned) => s.lines.filter((l) => /^ {2}[✓✗-] /.test(l)).length;

/**
 * `kill -9` of the engine process at several points of a run, each followed by a restart on the same data
 * dir: every execution ends terminal exactly once, nothing lost or duplicated, sequences contiguous.
 */
describe('crash recovery under SIGKILL', () => {
  const dir = tempDir('troupe-crash-');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('resumes the run after kills at submit, early, middle and late, and finishes it exactly once', async () => {
    // t0 must be stored SCHEDULED: its time must come after the first submit, which happens in the second
    // process, after node and the engine start. 2.5 s was seen to pass first on a loaded machine; the last
    // process waits for t0 whatever the margin, so a wide one costs little.
    const scheduledAt = new Date(Date.now() + 10_000).toISOString();
    const items = Array.from({ length: ITEMS }, (_, i) => ({
      name: `t${i}`,
      type: 'GENERIC',
      steps: i === 0 ? [{ action: 'noop' }] : [{ action: 'sleep', ms: 10 + (i % 5) * 10 }, { action: 'noop' }],
      ...(i === 0 ? { scheduledAt } : {}),
    }));
    const file = join(dir, 'run.json');
    writeFileSync(file, JSON.stringify({ name: 'crashy', idempotencyKey: 'crash-test-1', items }));

    // Kill points: while submitting, right after the submit was acknowledged, then after some, many and most
    // executions finished.
    const killAfter: ((s: Spawned) => boolean)[] = [
      () => true,
      (s) => s.lines.some((l) => l.startsWith('Submitted') || l.startsWith('Resuming')),
      (s) => finished(s) >= 10,
      (s) => finished(s) >= 30,
      (s) => finished(s) >= 20,
    ];
    let kills = 0;
    for (const point of killAfter) {
      const s = troupeRun(file, dir);
      await until(() => point(s) || s.child.exitCode !== null, 'kill point');
      if (s.child.exitCode === null) {
        s.child.kill('SIGKILL');
        kills++;
      }
      await s.exit;
    }
    expect(kills).toBeGreaterThanOrEqual(4);

    const last = troupeRun(file, dir);
    expect(await last.exit).toBe(0);
    expect(last.lines.some((l) => l.startsWith('Resuming run'))).toBe(true);
    expect(last.lines, last.lines.slice(-15).join("\n")).toContain(`${ITEMS} passed, 0 failed, 0 skipped`);

    const store = new SqliteStore({ file: join(dir, 'troupe.db') });
    try {
      const runs = await store.listActiveRuns();
      expect(runs).toHaveLength(0);
      const page = await store.listExecutions({ limit: 1000 });
      expect(page.items).toHaveLength(ITEMS); // the idempotency key kept restarts from duplicating the run
      expect(new Set(page.items.map((e) => e.runId)).size).toBe(1);
      let lostAttempts = 0;
      for (const execution of page.items) {
        expect(execution.status).toBe('PASSED');
        const events = await store.listEvents(execution.id);
        expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
        expect(events.filter((e) => isTerminal(e.to))).toHaveLength(1);
        expect(events[0]).toMatchObject({ seq: 1, from: null });
        for (let i = 1; i < events.length; i++) expect(events[i]!.from).toBe(events[i - 1]!.to);
        lostAttempts += events.filter((e) => e.reason?.startsWith('work lost')).length;
      }
      // Kills landed while executions were running; their attempts were retried, not lost or doubled.
      expect(lostAttempts).toBeGreaterThan(0);
      const scheduled = page.items.find((e) => e.name === 't0')!;
      const scheduledEvents = await store.listEvents(scheduled.id);
      expect(scheduledEvents[0]!.to).toBe('SCHEDULED');
      expect(scheduledEvents[1]).toMatchObject({ event: 'DUE', to: 'PENDING' });
      expect(scheduledEvents[1]!.at).toBeGreaterThanOrEqual(Date.parse(scheduledAt));
    } finally {
      await store.close();
    }
  });
});
