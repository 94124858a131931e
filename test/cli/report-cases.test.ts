import { describe, expect, it } from 'vitest';
import { reportTests } from '../../src/report/run-report.js';
import { toJunitXml } from '../../src/report/junit.js';

/** JUnit cases (SPEC §7): one per BDD scenario or outline row, one per execution otherwise. */
describe('report cases', () => {
  const events = [
    { to: 'RUNNING' as const, at: 1_000, reason: null },
    { to: 'FAILED' as const, at: 1_500, reason: 'a scenario failed' },
  ];
  const step = (name: string, status: string, attempt = 2, extra: Record<string, unknown> = {}) => ({ attempt, name, status, durationMs: 10, ...extra });

  it('splits a BDD execution into its scenarios of the last attempt, worst step status first', () => {
    const cases = reportTests({
      id: 'exe_1',
      name: 'checkout',
      type: 'BDD',
      status: 'FAILED',
      attempt: 2,
      events,
      steps: [
        step('Old attempt › Given x', 'ERROR', 1),
        step('Pay › Given the base URL is "http://x"', 'PASSED'),
        step('Pay › Then the response status should be 200', 'FAILED', 2, { error: { message: 'expected status 200, got 500' } }),
        step('Add numbers (a=1, b=2) › When I add', 'PASSED'),
        step('Skipped one › Given y', 'SKIPPED', 2, { output: 'tagged @wip' }),
      ],
    });
    expect(cases.map((c) => [c.name, c.status])).toEqual([
      ['checkout › Pay', 'FAILED'],
      ['checkout › Add numbers (a=1, b=2)', 'PASSED'],
      ['checkout › Skipped one', 'SKIPPED'],
    ]);
    expect(cases[0]!.reason).toBe('Then the response status should be 200: expected status 200, got 500');
    const xml = toJunitXml({ name: 'run', id: 'run_1', cases });
    expect(xml).toContain('tests="3"');
    expect(xml).toContain('<failure');
    expect(xml).toContain('<skipped');
  });

  it('adds one case per JUnit test case an exec step ingested, after the execution’s own', () => {
    const cases = reportTests({
      id: 'exe_1',
      name: 'unit suite',
      type: 'GENERIC',
      status: 'FAILED',
      attempt: 2,
      events,
      steps: [
        step('vitest', 'FAILED'),
        step('math › adds', 'PASSED', 2, { caseOf: 0 }),
        step('math › divides', 'FAILED', 2, { caseOf: 0, error: { message: 'expected 2 to be 3' } }),
        step('math › old attempt', 'PASSED', 1, { caseOf: 0 }),
      ],
    });
    expect(cases.map((c) => [c.name, c.status, c.reason])).toEqual([
      ['unit suite', 'FAILED', 'a scenario failed'],
      ['unit suite › math › adds', 'PASSED', null],
      ['unit suite › math › divides', 'FAILED', 'expected 2 to be 3'],
    ]);
  });

  it('keeps one case for a BDD execution without steps, and for other types', () => {
    const bare = reportTests({ id: 'exe_1', name: 'cancelled early', type: 'BDD', status: 'FAILED', attempt: 1, events, steps: [] });
    expect(bare.map((c) => c.name)).toEqual(['cancelled early']);
    const generic = reportTests({ id: 'exe_1', name: 'g', type: 'GENERIC', status: 'FAILED', attempt: 2, events, steps: [step('Pay › x', 'FAILED')] });
    expect(generic.map((c) => c.name)).toEqual(['g']);
  });
});
