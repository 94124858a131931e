import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../src/store/sqlite.store.js';
import type { Store } from '../src/store/store.port.js';
import { describe, expect, it } from 'vitest';
import { storeContract } from './contract/store.contract.js';
import { makeExecution, step, writeFor } from './contract/store.fixtures.js';
import { drive } from './contract/store.support.js';

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
