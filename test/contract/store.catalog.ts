import { describe, expect, it } from 'vitest';
import { newId } from '../../src/core/ids.js';
import type { ApiKeyRecord, Store, SuiteRecord, TestCaseRecord } from '../../src/store/store.port.js';
import { makeExecution } from './store.fixtures.js';

/** Contract: test cases, suites and API keys (versioned, conditional, per owner). */
export function storeCatalogTests(current: () => Store): void {
  const testCase = (owner = 'alice'): TestCaseRecord => ({
    id: newId('tcs'),
    owner,
    item: { name: 'case', type: 'GENERIC', steps: [{ action: 'noop' }] },
    version: 1,
    createdAt: Date.now(),
    updatedAt: Date.now(),
  });

  describe('test cases and suites', () => {
    it('replaces a test case only on the expected version; a stale version is a conflict and changes nothing', async () => {
      const store = current();
      const t = testCase();
      expect(await store.saveTestCase(t)).toBe('applied');
      const v2 = { ...t, item: { ...t.item, name: 'v2' }, version: 2 };
      expect(await store.saveTestCase(v2, 1)).toBe('applied');
      expect(await store.saveTestCase({ ...t, item: { ...t.item, name: 'stale' }, version: 2 }, 1)).toBe('conflict');
      expect(await store.getTestCase(t.id)).toMatchObject({ version: 2, item: { name: 'v2' } });
      expect(await store.saveTestCase({ ...testCase(), version: 2 }, 1)).toBe('not_found');
      expect(await store.deleteTestCase(t.id)).toBe(true);
      expect(await store.deleteTestCase(t.id)).toBe(false);
      expect(await store.getTestCase(t.id)).toBeNull();
    });

    it('lists test cases and suites per owner, newest first, paged', async () => {
      const store = current();
      const mine = [testCase(), testCase(), testCase()];
      for (const t of mine) await store.saveTestCase(t);
      await store.saveTestCase(testCase('bob'));
      const first = await store.listTestCases({ owner: 'alice', limit: 2 });
      const second = await store.listTestCases({ owner: 'alice', limit: 2, cursor: first.next });
      expect([...first.items, ...second.items].map((t) => t.id)).toEqual(mine.map((t) => t.id).reverse());
      expect(second.next).toBeNull();
      const suite: SuiteRecord = {
        id: newId('sui'),
        owner: 'alice',
        name: 'smoke',
        testCaseIds: mine.map((t) => t.id),
        version: 1,
        createdAt: Date.now(),
        updatedAt: Date.now(),
      };
      expect(await store.saveSuite(suite)).toBe('applied');
      expect(await store.saveSuite({ ...suite, name: 'renamed', version: 2 }, 1)).toBe('applied');
      expect(await store.saveSuite({ ...suite, name: 'stale', version: 2 }, 1)).toBe('conflict');
      expect(await store.getSuite(suite.id)).toMatchObject({ name: 'renamed', testCaseIds: suite.testCaseIds, version: 2 });
      expect((await store.listSuites({ owner: 'bob', limit: 10 })).items).toHaveLength(0);
      expect(await store.deleteSuite(suite.id)).toBe(true);
    });
  });

  describe('event log head', () => {
    it('latestCursor is 0 on an empty log and then the newest cursor', async () => {
      const store = current();
      expect(await store.latestCursor()).toBe(0);
      await store.createExecution(makeExecution());
      const [only] = await store.eventsSince(0, 10);
      expect(await store.latestCursor()).toBe(only!.cursor);
    });
  });

  describe('API keys', () => {
    it('finds a key by its hash, lists it, and revokes it once', async () => {
      const store = current();
      const key: ApiKeyRecord = { id: newId('key'), hash: 'a'.repeat(64), owner: 'alice', role: 'runner', name: 'ci', createdAt: 1, revokedAt: null };
      await store.createApiKey(key);
      expect(await store.findApiKeyByHash(key.hash)).toEqual(key);
      expect(await store.findApiKeyByHash('b'.repeat(64))).toBeNull();
      await expect(store.createApiKey({ ...key, id: newId('key') })).rejects.toThrow();
      expect(await store.revokeApiKey(key.id, 5)).toBe(true);
      expect(await store.revokeApiKey(key.id, 6)).toBe(false);
      expect((await store.findApiKeyByHash(key.hash))?.revokedAt).toBe(5);
      expect((await store.listApiKeys()).map((k) => k.id)).toEqual([key.id]);
    });
  });
}
