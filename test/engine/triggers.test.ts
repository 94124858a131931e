import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { newId } from '../../src/core/ids.js';
import { createLogger } from '../../src/core/log.js';
import { Notifier } from '../../src/engine/notifier.js';
import { TriggerRuns, triggerMatches, type Delivery } from '../../src/engine/triggers.js';
import type { TriggerRecord } from '../../src/store/store.port.js';
import { startEngine } from '../helpers/engine.js';

const trigger = (over: Partial<TriggerRecord> = {}): TriggerRecord => ({
  id: newId('trg'),
  owner: 'alice',
  name: 'ci',
  source: 'github',
  repository: 'acme/shop',
  events: ['push'],
  branches: null,
  suiteId: newId('sui'),
  notify: null,
  createdAt: 1,
  ...over,
});
const push = (branch: string) => ({ event: 'push', repository: 'acme/shop', branch, commit: 'abc' });

describe('trigger matching', () => {
  it('matches the event and the branch globs (picomatch: * stays within a segment, ** crosses them)', () => {
    expect(triggerMatches(trigger(), push('anything/at/all'))).toBe(true);
    expect(triggerMatches(trigger({ events: ['pull_request'] }), push('main'))).toBe(false);
    const globbed = trigger({ branches: ['main', 'release/*', 'feature/**'] });
    expect(triggerMatches(globbed, push('main'))).toBe(true);
    expect(triggerMatches(globbed, push('mainline'))).toBe(false);
    expect(triggerMatches(globbed, push('release/2.0'))).toBe(true);
    expect(triggerMatches(globbed, push('release/2.0/hotfix'))).toBe(false);
    expect(triggerMatches(globbed, push('feature/a/b'))).toBe(true);
  });
});

describe('two receivers of the same delivery (two processes)', () => {
  it('start one set of runs between them: the store decides, and both answer the same runs', async () => {
    await using t = await startEngine({}, { pool: false });
    const { store, coordinator } = t.engine;
    const caseId = newId('tcs');
    await store.saveTestCase({ id: caseId, owner: 'alice', item: { name: 'smoke', type: 'GENERIC', steps: [{ action: 'noop' }] }, version: 1, createdAt: 1, updatedAt: 1 });
    const suiteId = newId('sui');
    await store.saveSuite({ id: suiteId, owner: 'alice', name: 'suite', testCaseIds: [caseId], version: 1, createdAt: 1, updatedAt: 1 });
    for (const name of ['one', 'two']) await store.saveTrigger(trigger({ name, suiteId }));
    const logger = createLogger('silent');
    // Each has its own in-process bookkeeping, as two servers on one data dir would.
    const receivers = [0, 1].map(() => new TriggerRuns({ store, coordinator, clock: systemClock, logger, notifier: new Notifier({ store, coordinator, logger }) }));
    const delivery: Delivery = { source: 'github', id: crypto.randomUUID(), name: 'push', event: push('main') };
    const [a, b] = await Promise.all(receivers.map((r) => r.receive(delivery)));
    expect(a).toHaveLength(2);
    expect(b).toEqual(a);
    expect((await store.listRuns({ limit: 100 })).items.map((r) => r.id).sort()).toEqual([...a!].sort());
    expect((await store.getHookDelivery('github', delivery.id))?.runs).toEqual(a);
  });
});
