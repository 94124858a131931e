import { Writable } from 'node:stream';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/core/config.js';
import { createEngine } from '../../src/engine/create-engine.js';
import { ADMIN, item, tempDir, waitFor } from '../helpers/engine.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: pino({ level: 'info' }, stream) };
}

describe('restart on the same data dir', () => {
  it('retries work that was running when the engine went away, and logs what it resumed', async () => {
    const dir = tempDir();
    try {
      const config = loadConfig({ TROUPE_DATA_DIR: dir, EXECUTION_RETRY_DELAY_SECONDS: '0', EXECUTION_MAX_CONCURRENT_JOBS: '2' });
      // First engine: no worker pool, so its executions start but their jobs are never run.
      const first = await createEngine(config, pino({ level: 'silent' }), { pool: false });
      const run = await first.coordinator.submitRun(
        { items: [item('once', [{ action: 'noop' }], { retry: { maxAttempts: 1 } }), item('a'), item('b'), item('c')] },
        ADMIN,
      );
      await waitFor(async () => (await first.store.runCounts(run.id)).RUNNING === 2, 'two running');
      await first.close();

      const { lines, logger } = capture();
      const second = await createEngine(config, logger);
      try {
        expect(await second.coordinator.waitForRun(run.id)).toBe('FAILED');
        // 'once' and 'a' were running: 'a' is retried as attempt 2, 'once' has no attempt left and ends in ERROR.
        expect(await second.store.runCounts(run.id)).toEqual({ PASSED: 3, ERROR: 1 });
        const once = await second.store.listEvents(run.executionIds[0]!);
        expect(once.map((e) => e.to)).toEqual(['PENDING', 'RUNNING', 'ERROR']);
        expect(once[2]).toMatchObject({ event: 'ERROR', actor: 'engine' });
        expect(once[2]!.reason).toMatch(/^work lost: the engine restarted while attempt 1 was running/);
        const a = await second.store.listEvents(run.executionIds[1]!);
        expect(a.map((e) => `${e.to}@${e.attempt}`)).toEqual(['PENDING@1', 'RUNNING@1', 'RETRYING@1', 'RUNNING@2', 'PASSED@2']);
        const c = await second.store.listEvents(run.executionIds[3]!);
        expect(c.map((e) => e.to)).toEqual(['PENDING', 'RUNNING', 'PASSED']);
        const resumed = lines.find((l) => l.msg === 'resumed unfinished executions');
        expect(resumed).toMatchObject({ level: 30, component: 'coordinator', resumed: 4, lost: 2 });
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a run history left unwritten', () => {
  it('is written by the next start when the engine stopped between a run ending and its history', async () => {
    const dir = tempDir();
    try {
      const config = loadConfig({ TROUPE_DATA_DIR: dir, LOGGING_LEVEL: 'silent' });
      const first = await createEngine(config, pino({ level: 'silent' }));
      const run = await first.coordinator.submitRun({ name: 'suite', labels: { repository: 'acme/shop' }, items: [item('a'), item('b')] }, ADMIN);
      expect(await first.coordinator.waitForRun(run.id)).toBe('PASSED');
      await first.close();
      // What a stop between the two writes leaves: the run ended, its history not written.
      const db = new Database(join(dir, 'troupe.db'));
      db.exec('DELETE FROM run_series; DELETE FROM test_outcomes; DELETE FROM test_history;');
      db.close();

      const second = await createEngine(config, pino({ level: 'silent' }));
      try {
        await second.store.flush();
        expect((await second.store.runOutcomes(run.id))?.map((t) => [t.name, t.status])).toEqual([['a', 'PASSED'], ['b', 'PASSED']]);
        expect(await second.store.runsWithoutHistory(100)).toEqual([]);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
