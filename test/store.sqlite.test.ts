import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../src/store/sqlite.store.js';
import type { Store } from '../src/store/store.port.js';
import { storeContract } from './contract/store.contract.js';

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
