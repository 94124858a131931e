import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { finishRun } from '../../src/cli/summary.js';
import { TroupeError } from '../../src/core/errors.js';
import { runReport } from '../../src/report/run-report.js';
import { tempDir } from '../helpers/engine.js';

const dir = tempDir('troupe-summary-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `troupe run`'s end: the summary lines, the report files and the exit code (SPEC §8). */
describe('finishRun', () => {
  const report = runReport(
    { id: 'run_1', name: 'nightly', status: 'PASSED' as const, labels: {}, createdAt: '2026-01-01T00:00:00.000Z' },
    { createdAt: 0, finishedAt: 10 },
    [{ name: 'a', executionId: 'exe_1', status: 'PASSED', attempts: 1, durationMs: 5, flaky: false, reason: null }],
  );

  it('writes every other file when one cannot be written, then fails with a validation error naming the flag', async () => {
    const lines: string[] = [];
    const json = join(dir, 'report.json');
    const junit = join(dir, 'gone', 'report.xml');
    const error: unknown = await finishRun((l) => lines.push(l), report, Date.now(), { junit, json }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(TroupeError);
    expect((error as TroupeError).code).toBe('VALIDATION_FAILED'); // exit 2
    expect((error as TroupeError).message).toContain(`--junit ${junit}: the report could not be written`);
    expect(JSON.parse(readFileSync(json, 'utf8'))).toMatchObject({ run: { id: 'run_1' }, summary: { total: 1, passed: 1 } });
    expect(lines).toContain(`JSON report written to ${json}`);
    expect(existsSync(junit)).toBe(false);
  });

  it('returns 0 for a passed run once its files are written', async () => {
    const html = join(dir, 'report.html');
    expect(await finishRun(() => undefined, report, Date.now(), { html })).toBe(0);
    expect(readFileSync(html, 'utf8')).toContain('nightly');
  });
});
