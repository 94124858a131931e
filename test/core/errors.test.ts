import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, TroupeError, toPlainError, type ErrorCode } from '../../src/core/errors.js';

describe('error registry', () => {
  it('docs/errors.md lists exactly the registry, with the same status and retryability', () => {
    const page = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'errors.md'), 'utf8');
    const rows = [...page.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \| (yes|no) \|/gm)].map((m) => [m[1], Number(m[2]), m[3] === 'yes']);
    const registry = Object.entries(ERROR_CODES).map(([code, e]) => [code, e.status, e.retryable]);
    expect(rows).toEqual(registry);
  });

  it('errors carry code, status, name and cause, and serialise to the wire shape', () => {
    const cause = new Error('disk on fire');
    const err = new TroupeError('ILLEGAL_TRANSITION', 'RESUME is not allowed: execution is PASSED', { cause, details: { status: 'PASSED' } });
    expect(err).toMatchObject({ name: 'TroupeError', code: 'ILLEGAL_TRANSITION', status: 409, retryable: false, cause });
    expect(err.toJSON()).toEqual({
      error: { code: 'ILLEGAL_TRANSITION', message: 'RESUME is not allowed: execution is PASSED', details: { status: 'PASSED' } },
    });
  });

  it('every code maps to a 4xx or 5xx status', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      expect(new TroupeError(code).status).toBeGreaterThanOrEqual(400);
    }
  });

  it('plain errors keep code, message and retryability across threads', () => {
    expect(toPlainError(new TroupeError('UNKNOWN_RUNNER'))).toMatchObject({ code: 'UNKNOWN_RUNNER', retryable: false });
    expect(toPlainError(new Error('boom'))).toMatchObject({ code: 'RUNNER_FAILED', message: 'boom', retryable: true });
    expect(toPlainError('a string', 'WORKER_LOST')).toEqual({ code: 'WORKER_LOST', message: 'a string', retryable: true });
  });
});
