import { monotonicFactory } from 'ulid';

const next = monotonicFactory();

/** Time-ordered unique ids (ULID) with a readable prefix: `exe_…`, `run_…`. */
export function newId(prefix: 'exe' | 'run' | 'job' | 'key' | 'tcs' | 'sui'): string {
  return `${prefix}_${next().toLowerCase()}`;
}
