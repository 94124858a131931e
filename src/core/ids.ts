import { randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulid';

/**
 * Random bytes for ids, drawn from the system's CSPRNG a block at a time: ulid's default draws one byte per
 * character through `crypto.getRandomValues`, which cost more than the rest of creating an execution.
 */
const pool = new Uint8Array(4096);
let used = pool.length;
function randomFraction(): number {
  if (used === pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  return (pool[used++] as number) / 256;
}

const next = monotonicFactory(randomFraction);

/** Time-ordered unique ids (ULID) with a readable prefix: `exe_…`, `run_…`. */
export function newId(prefix: 'exe' | 'run' | 'job' | 'key' | 'tcs' | 'sui' | 'trg' | 'ntf'): string {
  return `${prefix}_${next().toLowerCase()}`;
}
