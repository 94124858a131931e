import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../src/store/sqlite.store.js';
import type { Store } from '../src/store/store.port.js';
import { describe, expect, it } from 'vitest';
import { storeContract } from './contract/store.contract.js';
import { makeExecution, step, writeFor } from './contract/store.fixtures.js';
import { drive } from './contract/store.support.js';
import { countTurns } from './helpers/turns.js';

/** The store contract against the embedded adapter: one fresh database file per test, removed afterwards. */
storeContract('sqlite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'troupe-store-'));
  const file = join(dir, 'troupe.db');
  const opened: Store[] = [];
  const openStore = (): Store => {
    const store = new SqliteStore({ file });
    opened.push(store);
    return store;
  };
  return Promise.resolve({
    store: openStore(),
    reopen: () => Promise.resolve(openStore()),
    async cleanup() {
      for (const store of opened) {
        try {
          await store.close();
        } catch {
          // Already closed by the test.
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  });
});

describe('sqlite: two stores writing one file', () => {
  it('never hand out the same cursor: transitions and steps of both interleave in one strictly increasing log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'troupe-store-'));
    const file = join(dir, 'troupe.db');
    const a = new SqliteStore({ file });
    const b = new SqliteStore({ file });
    try {
      const ea = makeExecution();
      const eb = makeExecution();
      await a.createExecution(ea);
      await b.createExecution(eb);
      const ra = await drive(a, ea, [['START', 'RUNNING']]);
      const rb = await drive(b, eb, [['START', 'RUNNING']]);
      expect(await a.applyTransition(writeFor(ra.machine, 'PASS', 'PASSED', { attempt: 1, items: [step(0, 'PASSED')] }))).toBe('applied');
      expect(await b.applyTransition(writeFor(rb.machine, 'FAIL', 'FAILED', { attempt: 1, items: [step(0, 'FAILED'), step(1, 'SKIPPED')] }))).toBe('applied');
      for (const store of [a, b]) {
        const log = await store.logSince(0, 100);
        expect(log).toHaveLength(9);
        const cursors = log.map((e) => e.cursor);
        expect(new Set(cursors).size).toBe(cursors.length);
        for (let i = 1; i < cursors.length; i++) expect(cursors[i]).toBeGreaterThan(cursors[i - 1]!);
      }
    } finally {
      await a.close();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sqlite: a data file from before a column was added', () => {
  it('gains steps.case_of and the current indexes on open, and keeps what it held', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'troupe-store-'));
    const file = join(dir, 'troupe.db');
    const old = new Database(file);
    old.exec(`CREATE TABLE steps (
      execution_id TEXT NOT NULL, attempt INTEGER NOT NULL, idx INTEGER NOT NULL, name TEXT NOT NULL,
      status TEXT NOT NULL, started_at INTEGER NOT NULL, duration_ms INTEGER NOT NULL, output TEXT, error TEXT,
      PRIMARY KEY (execution_id, attempt, idx))`);
    old.prepare("INSERT INTO steps VALUES ('exe_old', 1, 0, 'old step', 'PASSED', 1, 2, NULL, NULL)").run();
    // The indexes of that time: every transition had to update them.
    old.exec(`CREATE TABLE executions (
      id TEXT PRIMARY KEY, run_id TEXT, name TEXT NOT NULL, type TEXT NOT NULL, status TEXT NOT NULL,
      priority TEXT NOT NULL, context TEXT NOT NULL, attempt INTEGER NOT NULL, owner TEXT NOT NULL,
      created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, rerun_of TEXT, item TEXT NOT NULL,
      machine TEXT NOT NULL, version INTEGER NOT NULL, terminal INTEGER NOT NULL);
      CREATE INDEX executions_run ON executions(run_id, status);
      CREATE INDEX executions_active ON executions(terminal, id);`);
    old.close();
    const store = new SqliteStore({ file });
    try {
      const check = new Database(file, { readonly: true });
      const indexes = check.prepare<[], { name: string }>("SELECT name FROM pragma_index_list('executions')").all().map((i) => i.name);
      check.close();
      expect(indexes).not.toContain('executions_run');
      expect(indexes).not.toContain('executions_active');
      expect(indexes).toEqual(expect.arrayContaining(['executions_by_run', 'executions_live']));
      expect(await store.listSteps('exe_old')).toEqual([{ attempt: 1, index: 0, name: 'old step', status: 'PASSED', startedAt: 1, durationMs: 2 }]);
      const e = makeExecution();
      await store.createExecution(e);
      const running = await drive(store, e, [['START', 'RUNNING']]);
      const items = [step(0, 'FAILED'), step(1, 'PASSED', { caseOf: 0 }), step(2, 'FAILED', { caseOf: 0 })];
      expect(await store.applyTransition(writeFor(running.machine, 'FAIL', 'FAILED', { attempt: 1, items }))).toBe('applied');
      expect((await store.listSteps(e.id)).map((s) => s.caseOf)).toEqual([undefined, 0, 0]);
      const logged = (await store.logSince(0, 100)).filter((x) => x.kind === 'step');
      expect(logged.map((x) => (x.kind === 'step' ? x.step.caseOf : null))).toEqual([undefined, 0, 0]);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sqlite: the writer thread', () => {
  const open = (options: { commitDelayMs?: number } = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'troupe-store-'));
    const store = new SqliteStore({ file: join(dir, 'troupe.db'), ...options });
    return {
      store,
      async [Symbol.asyncDispose]() {
        await store.close().catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  };

  it('keeps the event loop turning while a slow commit is held, and commits what arrived meanwhile together', async () => {
    await using s = open({ commitDelayMs: 300 });
    const { store } = s;
    await store.createExecution(makeExecution()); // the thread is up
    const turns = countTurns();
    const first = makeExecution();
    const held = store.createExecution(first);
    // Made while the first commit is held: accepted at once, durable with the next commit.
    const later = Array.from({ length: 20 }, () => makeExecution());
    let settled = 0;
    const writes = later.map((e) => store.createExecution(e).then(() => settled++));
    await held;
    const turnsWhileHeld = turns.count;
    await Promise.all(writes);
    turns.stop();
    // A commit on the event loop's own thread would have allowed no turn while it was held.
    expect(turnsWhileHeld).toBeGreaterThan(10);
    expect(settled).toBe(20);
    for (const e of [first, ...later]) expect((await store.getExecution(e.id))?.status).toBe('PENDING');
  });

  it('rejects only the failing write of a group commit; the others are stored', async () => {
    await using s = open();
    const { store } = s;
    const a = makeExecution();
    const b = makeExecution();
    const results = await Promise.allSettled([store.createExecution(a), store.createExecution(a), store.createExecution(b)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const error = (results[1] as PromiseRejectedResult).reason as Error & { code?: string };
    expect(error.name).toBe('StoreWriteError');
    expect(error.code).toBe('SQLITE_CONSTRAINT_PRIMARYKEY');
    expect((await store.getExecution(a.id))?.id).toBe(a.id);
    expect((await store.getExecution(b.id))?.id).toBe(b.id);
    expect((await store.logSince(0, 10)).map((e) => e.executionId)).toEqual([a.id, b.id]);
  });

  it('flush waits for the writes made before it, not for later ones: it resolves under a steady stream of writes', async () => {
    await using s = open({ commitDelayMs: 100 });
    const { store } = s;
    await store.createExecution(makeExecution()); // the thread is up
    const first = makeExecution();
    const before = store.createExecution(first);
    let flushed = false;
    let storedAtFlush: boolean | undefined;
    const flush = store.flush().then(async () => {
      flushed = true;
      storedAtFlush = (await store.getExecution(first.id)) !== null;
    });
    // A write every turn from now on: some batch is always in flight, so the writer is never idle. The stream stops
    // when the flush resolves, or after 200 of its own writes were answered (a flush that waited for idle).
    const stream: Promise<unknown>[] = [];
    let answered = 0;
    while (!flushed && answered < 200) {
      stream.push(store.createExecution(makeExecution()).then(() => answered++));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(flushed).toBe(true);
    await Promise.all([before, flush, ...stream]);
    expect(storedAtFlush).toBe(true);
  });

  it('a writer thread that dies while the store closes fails the writes it held; close does not hang', async () => {
    await using s = open({ commitDelayMs: 300 });
    const { store } = s;
    await store.createExecution(makeExecution()); // the thread is up
    const worker = (store as unknown as { writer: { worker: { terminate(): Promise<number> } } }).writer.worker;
    const pending = store.createExecution(makeExecution());
    await new Promise((resolve) => setImmediate(resolve)); // sent: its commit is held
    const closed = store.close();
    await worker.terminate();
    await expect(pending).rejects.toThrow(/store writer stopped/);
    await expect(closed).resolves.toBeUndefined();
  });

  it('fails pending and later writes, instead of hanging, when the writer thread dies', async () => {
    await using s = open({ commitDelayMs: 200 });
    const { store } = s;
    await store.createExecution(makeExecution());
    const worker = (store as unknown as { writer: { worker: { terminate(): Promise<number> } } }).writer.worker;
    const pending = store.createExecution(makeExecution());
    expect(store.failure()).toBeNull();
    await worker.terminate();
    await expect(pending).rejects.toThrow(/store writer stopped/);
    expect(store.failure()?.name).toBe('StoreWriteError');
    await expect(store.createExecution(makeExecution())).rejects.toThrow(/store writer stopped/);
    await expect(store.flush()).resolves.toBeUndefined();
  });
});

describe('sqlite: executions read in a terminal status', () => {
  it('a live execution is read fresh each time (another process may move it); a finished one is kept once read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'troupe-store-'));
    const file = join(dir, 'troupe.db');
    const mine = new SqliteStore({ file });
    const other = new SqliteStore({ file }); // `troupe run` beside `troupe serve` on one data dir
    try {
      const e = makeExecution();
      await mine.createExecution(e);
      expect((await mine.getExecution(e.id))?.status).toBe('PENDING');
      const running = await drive(other, e, [['START', 'RUNNING']]);
      expect((await mine.getExecution(e.id))?.status).toBe('RUNNING');
      expect(await other.applyTransition(writeFor(running.machine, 'PASS', 'PASSED', { attempt: 1, items: [step(0, 'PASSED')] }))).toBe('applied');
      const finished = await mine.getExecution(e.id);
      expect(finished?.status).toBe('PASSED');
      expect(await mine.getExecution(e.id)).toBe(finished);
      expect((await mine.listEvents(e.id)).map((x) => x.to)).toEqual(['PENDING', 'RUNNING', 'PASSED']);
    } finally {
      await mine.close();
      await other.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
