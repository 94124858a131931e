import fc from 'fast-check';
import { createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { PriorityQueue, type QueueEntry } from '../../actors/priority-queue.js';
import { createGovernorLogic, mayAcquire, ownerShare } from '../../actors/governor.actor.js';
import { PRIORITIES, priorityRank, type Priority } from '../../src/core/statuses.js';

const AGING_MS = 1000;
const priority = fc.constantFrom(...PRIORITIES);
const owner = fc.constantFrom('alice', 'bob', 'carol');
const runId = fc.constantFrom('run_a', 'run_b', null);

function entries(n: number) {
  return fc.array(fc.record({ priority, owner, runId, wait: fc.integer({ min: 0, max: 10_000 }) }), { minLength: 1, maxLength: n });
}

function fill(raw: { priority: Priority; owner: string; runId: string | null; wait: number }[], now: number) {
  const queue = new PriorityQueue(AGING_MS);
  // Enqueue oldest first, as they would have arrived.
  const sorted = raw.map((r, i) => ({ ...r, i })).sort((a, b) => b.wait - a.wait || a.i - b.i);
  const added: QueueEntry[] = sorted.map((r) => ({
    executionId: `exe_${r.i}`,
    priority: r.priority,
    owner: r.owner,
    runId: r.runId,
    enqueuedAt: now - r.wait,
  }));
  for (const e of added) queue.add(e);
  return { queue, added };
}

describe('priority queue (property)', () => {
  it('each pick has the best effective priority among eligible waiting entries, oldest first on ties', () => {
    fc.assert(
      fc.property(entries(60), fc.subarray(['alice', 'bob', 'carol']), (raw, blocked) => {
        const now = 1_000_000;
        const { queue, added } = fill(raw, now);
        const waiting = new Map(added.map((e) => [e.executionId, e]));
        const eligible = (o: string) => !blocked.includes(o);
        for (;;) {
          const picked = queue.pick(now, eligible);
          const candidates = [...waiting.values()].filter((e) => eligible(e.owner));
          if (!picked) {
            expect(candidates).toHaveLength(0);
            break;
          }
          expect(eligible(picked.owner)).toBe(true);
          const rank = (e: QueueEntry) => queue.effectiveRank(e, now);
          const nonDeferred = candidates.filter((e) => e.priority !== 'DEFERRED');
          if (picked.priority === 'DEFERRED') expect(nonDeferred).toHaveLength(0);
          const pool = nonDeferred.length > 0 ? nonDeferred : candidates;
          const best = Math.min(...pool.map(rank));
          expect(rank(picked)).toBe(best);
          const oldest = Math.min(...pool.filter((e) => rank(e) === best).map((e) => e.enqueuedAt));
          expect(picked.enqueuedAt).toBe(oldest);
          waiting.delete(picked.executionId);
        }
        expect(queue.size).toBe(waiting.size);
      }),
    );
  });

  it('everything but DEFERRED ages to CRITICAL: waiting long enough beats any fresh arrival', () => {
    fc.assert(
      fc.property(priority.filter((p) => p !== 'DEFERRED'), (p) => {
        const queue = new PriorityQueue(AGING_MS);
        const now = 1_000_000;
        queue.add({ executionId: 'old', priority: p, owner: 'a', runId: null, enqueuedAt: now - priorityRank(p) * AGING_MS });
        queue.add({ executionId: 'fresh', priority: 'CRITICAL', owner: 'b', runId: null, enqueuedAt: now });
        expect(queue.pick(now, () => true)!.executionId).toBe('old');
      }),
    );
  });

  it('removed entries are never picked; counts stay exact', () => {
    fc.assert(
      fc.property(entries(40), fc.array(fc.nat(39)), (raw, removals) => {
        const { queue, added } = fill(raw, 1_000_000);
        const removed = new Set<string>();
        for (const r of removals) {
          const e = added[r % added.length]!;
          expect(queue.remove(e.executionId)).toBe(!removed.has(e.executionId));
          removed.add(e.executionId);
        }
        const depth = queue.depthByPriority();
        expect(Object.values(depth).reduce((a, b) => a + b, 0)).toBe(added.length - removed.size);
        const picked: string[] = [];
        for (let e = queue.pick(1_000_000, () => true); e; e = queue.pick(1_000_000, () => true)) picked.push(e.executionId);
        expect(picked.some((id) => removed.has(id))).toBe(false);
        expect(picked).toHaveLength(added.length - removed.size);
      }),
    );
  });
});

describe('resource governor (property)', () => {
  it('never grants beyond the global limit, an owner share or a run limit', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.oneof(fc.record({ kind: fc.constant('acquire' as const), owner, runId }), fc.record({ kind: fc.constant('release' as const), n: fc.nat() })), {
          maxLength: 200,
        }),
        (max, ops) => {
          const actor = createActor(createGovernorLogic({ maxConcurrent: max, onRelease: () => undefined }));
          actor.start();
          actor.send({ type: 'limitRun', runId: 'run_a', maxParallel: 2 });
          const held: string[] = [];
          let next = 0;
          for (const op of ops) {
            const state = actor.getSnapshot().context;
            if (op.kind === 'acquire') {
              const contenders = Math.max(1, new Set([...state.byOwner.keys(), op.owner]).size);
              if (!mayAcquire(state, op.owner, op.runId, contenders)) continue;
              const id = `e${next++}`;
              actor.send({ type: 'acquire', executionId: id, owner: op.owner, runId: op.runId });
              held.push(id);
              const after = actor.getSnapshot().context;
              expect(after.running).toBeLessThanOrEqual(max);
              expect(after.byOwner.get(op.owner)).toBeLessThanOrEqual(ownerShare(after, contenders));
              expect(after.byRun.get('run_a') ?? 0).toBeLessThanOrEqual(2);
            } else if (held.length > 0) {
              const [id] = held.splice(op.n % held.length, 1);
              actor.send({ type: 'release', executionIds: [id!] });
            }
            expect(actor.getSnapshot().context.running).toBe(held.length);
          }
        },
      ),
    );
  });
});
