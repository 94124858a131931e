import { describe, expect, it } from 'vitest';
import { settlesWithin, withTimeout } from '../../src/core/timeout.js';

const never = new Promise<never>(() => {});

describe('bounded waits', () => {
  it('settlesWithin: true for work that resolves or rejects in time, false for work that never settles', async () => {
    expect(await settlesWithin(Promise.resolve(1), 1_000)).toBe(true);
    expect(await settlesWithin(Promise.reject(new Error('no')), 1_000)).toBe(true);
    expect(await settlesWithin(never, 20)).toBe(false);
  });

  it('withTimeout: the work’s value or rejection, else the timeout error', async () => {
    expect(await withTimeout(Promise.resolve('v'), 1_000, () => new Error('late'))).toBe('v');
    await expect(withTimeout(Promise.reject(new Error('own')), 1_000, () => new Error('late'))).rejects.toThrow('own');
    await expect(withTimeout(never, 20, () => new Error('late'))).rejects.toThrow('late');
  });
});
