import { describe, expect, it } from 'vitest';
import { newId } from '../../src/core/ids.js';
import type { NotifyAttemptRecord, Store, TriggerRecord } from '../../src/store/store.port.js';
import type { StoreUnderTest } from './store.support.js';

/** Contract: triggers, webhook deliveries (first stored stands) and run notifications (SPEC §8). */
export function storeTriggerTests(current: () => { store: Store; sut: StoreUnderTest }): void {
  const trigger = (over: Partial<TriggerRecord> = {}): TriggerRecord => ({
    id: newId('trg'),
    owner: 'alice',
    name: 'ci',
    source: 'github',
    repository: 'acme/shop',
    events: ['push', 'pull_request'],
    branches: ['main', 'release/*'],
    suiteId: newId('sui'),
    notify: null,
    createdAt: Date.now(),
    ...over,
  });
  const attempt = (triggerId: string, runId: string, n: number, ok: boolean): NotifyAttemptRecord => ({
    id: newId('ntf'),
    triggerId,
    runId,
    attempt: n,
    at: 1000 + n,
    statusCode: ok ? 200 : null,
    error: ok ? null : 'ECONNREFUSED',
    ok,
  });

  describe('triggers', () => {
    it('stores a trigger as given, finds it by repository, lists it per owner newest first, and deletes it once', async () => {
      const { store } = current();
      const plain = trigger({ branches: null });
      const notifying = trigger({ notify: { url: 'http://127.0.0.1:9/hook', secret: 's3cret' } });
      const other = trigger({ owner: 'bob', source: 'gitlab', repository: 'group/sub/shop', events: ['merge_request'] });
      for (const t of [plain, notifying, other]) await store.saveTrigger(t);
      expect(await store.getTrigger(plain.id)).toEqual(plain);
      expect(await store.getTrigger(notifying.id)).toEqual(notifying);
      expect((await store.triggersFor('github', 'acme/shop')).map((t) => t.id)).toEqual([plain.id, notifying.id]);
      expect(await store.triggersFor('gitlab', 'acme/shop')).toEqual([]);
      expect(await store.triggersFor('gitlab', 'group/sub/shop')).toEqual([other]);
      const first = await store.listTriggers({ owner: 'alice', limit: 1 });
      const second = await store.listTriggers({ owner: 'alice', limit: 1, cursor: first.next });
      expect([...first.items, ...second.items].map((t) => t.id)).toEqual([notifying.id, plain.id]);
      expect(second.next).toBeNull();
      expect((await store.listTriggers({ limit: 10 })).items).toHaveLength(3);
      expect(await store.deleteTrigger(plain.id)).toBe(true);
      expect(await store.deleteTrigger(plain.id)).toBe(false);
      expect(await store.getTrigger(plain.id)).toBeNull();
      expect(await store.getTrigger(newId('trg'))).toBeNull();
    });
  });

  describe('webhook deliveries', () => {
    it('keeps the first delivery stored under a source and id; the same id from the other source is another delivery', async () => {
      const { store } = current();
      const id = crypto.randomUUID();
      const runs = [newId('run'), newId('run')];
      expect(await store.getHookDelivery('github', id)).toBeNull();
      const [a, b] = await Promise.all([
        store.recordHookDelivery({ source: 'github', id, event: 'push', runs, receivedAt: 1 }),
        store.recordHookDelivery({ source: 'github', id, event: 'push', runs: [newId('run')], receivedAt: 2 }),
      ]);
      expect([a, b]).toEqual([true, false]);
      expect(await store.getHookDelivery('github', id)).toEqual({ source: 'github', id, event: 'push', runs, receivedAt: 1 });
      expect(await store.recordHookDelivery({ source: 'gitlab', id, event: 'push', runs: [], receivedAt: 3 })).toBe(true);
      expect((await store.getHookDelivery('gitlab', id))?.runs).toEqual([]);
    });

    it('keeps deliveries and pending notifications across close and reopen', async (ctx) => {
      const { store, sut } = current();
      if (!sut.reopen) return ctx.skip();
      const id = crypto.randomUUID();
      const runId = newId('run');
      await store.recordHookDelivery({ source: 'gitlab', id, event: 'merge_request', runs: [runId], receivedAt: 5 });
      await store.addNotification({ runId, triggerId: newId('trg'), state: 'pending', attempts: 0, createdAt: 5 });
      await store.close();
      const reopened = await sut.reopen();
      expect((await reopened.getHookDelivery('gitlab', id))?.runs).toEqual([runId]);
      expect((await reopened.pendingNotifications()).map((n) => n.runId)).toEqual([runId]);
    });
  });

  describe('run notifications', () => {
    it('one pending notification per run until an attempt ends it; attempts list per trigger, newest first, paged', async () => {
      const { store } = current();
      const triggerId = newId('trg');
      const [r1, r2] = [newId('run'), newId('run')];
      expect(await store.addNotification({ runId: r1, triggerId, state: 'pending', attempts: 0, createdAt: 1 })).toBe(true);
      expect(await store.addNotification({ runId: r1, triggerId, state: 'pending', attempts: 0, createdAt: 9 })).toBe(false);
      expect(await store.addNotification({ runId: r2, triggerId, state: 'pending', attempts: 0, createdAt: 2 })).toBe(true);
      expect((await store.pendingNotifications()).map((n) => [n.runId, n.createdAt])).toEqual([[r1, 1], [r2, 2]]);
      const attempts = [attempt(triggerId, r1, 1, false), attempt(triggerId, r1, 2, false), attempt(triggerId, r1, 3, true)];
      await store.recordNotifyAttempt(attempts[0]!);
      await store.recordNotifyAttempt(attempts[1]!);
      expect((await store.pendingNotifications()).map((n) => [n.runId, n.attempts])).toEqual([[r1, 2], [r2, 0]]);
      await store.recordNotifyAttempt(attempts[2]!, 'delivered');
      expect((await store.pendingNotifications()).map((n) => n.runId)).toEqual([r2]);
      await store.endNotification(r2, 'failed');
      expect(await store.pendingNotifications()).toEqual([]);
      await store.recordNotifyAttempt(attempt(newId('trg'), r2, 1, true));
      const first = await store.listNotifyAttempts({ triggerId, limit: 2 });
      const second = await store.listNotifyAttempts({ triggerId, limit: 2, cursor: first.next });
      expect([...first.items, ...second.items]).toEqual([...attempts].reverse());
      expect(second.next).toBeNull();
    });
  });
}
