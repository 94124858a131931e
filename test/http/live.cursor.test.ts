import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newestCursor } from '../../src/http/live/hub.js';
import type { Store, StoredEvent } from '../../src/store/store.port.js';

/** Just enough of a store for `newestCursor`: an event log with the given cursors. */
function logWith(cursors: number[]): Store {
  const sorted = [...cursors].sort((a, b) => a - b);
  let reads = 0;
  const store = {
    eventsSince: (cursor: number, limit: number): Promise<StoredEvent[]> => {
      reads++;
      return Promise.resolve(
        sorted
          .filter((c) => c > cursor)
          .slice(0, limit)
          .map((c) => ({ cursor: c }) as StoredEvent),
      );
    },
    get reads() {
      return reads;
    },
  };
  return store as unknown as Store;
}

describe('live channel: the newest cursor at start-up', () => {
  it('is 0 for an empty log', async () => {
    expect(await newestCursor(logWith([]))).toBe(0);
  });

  it('finds the largest cursor of any log, dense or sparse, in a logarithmic number of reads', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: 10_000_000 }), { minLength: 1, maxLength: 200 }), async (cursors) => {
        const store = logWith(cursors);
        expect(await newestCursor(store)).toBe(Math.max(...cursors));
        expect((store as unknown as { reads: number }).reads).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(Math.max(...cursors) + 1)) + 3);
      }),
      { numRuns: 300 },
    );
    const dense = logWith(Array.from({ length: 100_000 }, (_, i) => i + 1));
    expect(await newestCursor(dense)).toBe(100_000);
  });
});
