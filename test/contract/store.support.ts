import { expect } from 'vitest';
import type { Status } from '../../src/core/statuses.js';
import type { ExecutionRecord, Store, TransitionWrite } from '../../src/store/store.port.js';
import { afterWrite, writeFor } from './store.fixtures.js';

/** What an adapter binding hands the contract: a fresh, empty store per test. */
export interface StoreUnderTest {
  store: Store;
  /**
   * Opens the same data again, after `store.close()`. Without it the durability tests are skipped (a binding
   * that can reopen must provide it).
   */
  reopen?: () => Promise<Store>;
  /** Closes whatever is still open and removes the data. */
  cleanup(): Promise<void>;
}

/** Applies `writes` one after another, expecting each to apply; returns the final record. */
export async function applyAll(store: Store, record: ExecutionRecord, writes: TransitionWrite[]): Promise<ExecutionRecord> {
  let current = record;
  for (const write of writes) {
    expect(await store.applyTransition(write)).toBe('applied');
    current = afterWrite(current, write);
  }
  return current;
}

/** Drives an execution along `path` (event, to) pairs from its current state. */
export async function drive(
  store: Store,
  record: ExecutionRecord,
  path: readonly (readonly [Parameters<typeof writeFor>[1], Status])[],
): Promise<ExecutionRecord> {
  let current = record;
  for (const [event, to] of path) current = await applyAll(store, current, [writeFor(current.machine, event, to)]);
  return current;
}
