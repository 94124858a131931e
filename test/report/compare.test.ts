import { describe, expect, it } from 'vitest';
import { HISTORY_DEPTH, flakyAcrossRuns } from '../../src/core/series.js';
import type { Status } from '../../src/core/statuses.js';
import { SLOWER_MIN_MS, SLOWER_RATIO, compareRuns, type ComparedTest } from '../../src/report/compare.js';

const t = (name: string, status: Status, durationMs = 10, flaky = false): ComparedTest => ({ name, status, durationMs, flaky });

describe('compareRuns (SPEC §8)', () => {
  it('sorts each test into new failures, fixed, still failing, added and removed, matched by name', () => {
    const base = [t('a', 'PASSED'), t('b', 'FAILED'), t('c', 'ERROR'), t('gone', 'PASSED'), t('d', 'SKIPPED'), t('e', 'TIMEOUT')];
    const now = [t('a', 'FAILED'), t('b', 'PASSED'), t('c', 'TIMEOUT'), t('new ok', 'PASSED'), t('new bad', 'ERROR'), t('d', 'ABORTED'), t('e', 'CANCELLED')];
    expect(compareRuns('run_base', base, now)).toEqual({
      baseRunId: 'run_base',
      newFailures: ['a', 'new bad', 'd'],
      fixed: ['b'],
      stillFailing: ['c'],
      flaky: [],
      added: ['new ok', 'new bad'],
      removed: ['gone'],
      slower: [],
    });
  });

  it('marks a test flaky within the run, or when it both passed and failed in the kept history', () => {
    const history = new Map([
      ['wobbly', { outcomes: ['PASSED', 'FAILED', 'PASSED'] as Status[] }],
      ['steady', { outcomes: ['PASSED', 'PASSED'] as Status[] }],
      ['broken', { outcomes: ['ERROR', 'FAILED'] as Status[] }],
    ]);
    const now = [t('wobbly', 'PASSED'), t('steady', 'PASSED'), t('broken', 'FAILED'), t('retried', 'PASSED', 10, true)];
    expect(compareRuns('run_base', now, now, history).flaky).toEqual(['wobbly', 'retried']);
    expect(flakyAcrossRuns(['SKIPPED', 'PASSED', 'CANCELLED'])).toBe(false);
    expect(HISTORY_DEPTH).toBe(10);
  });

  it('lists a passing test as slower only past both the ratio and the minimum, largest change first', () => {
    const base = [t('x', 'PASSED', 1000), t('y', 'PASSED', 100), t('jitter', 'PASSED', 10), t('nowfails', 'PASSED', 100), t('same', 'PASSED', 1000)];
    const now = [
      t('x', 'PASSED', 1000 * SLOWER_RATIO),
      t('y', 'PASSED', 100 + SLOWER_MIN_MS * 3),
      t('jitter', 'PASSED', 10 + SLOWER_MIN_MS - 1),
      t('nowfails', 'FAILED', 5000),
      t('same', 'PASSED', 1000 * SLOWER_RATIO - 1),
    ];
    expect(compareRuns('run_base', base, now).slower).toEqual([
      { name: 'x', baseMs: 1000, ms: 1500 },
      { name: 'y', baseMs: 100, ms: 400 },
    ]);
  });

  it('counts the last test of a name when a run holds it twice', () => {
    const result = compareRuns('run_base', [t('twice', 'PASSED')], [t('twice', 'PASSED'), t('twice', 'FAILED')]);
    expect(result.newFailures).toEqual(['twice']);
  });
});
