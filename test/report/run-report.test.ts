import { describe, expect, it } from 'vitest';
import { reportTests, runReport, type ExecutionFacts } from '../../src/report/run-report.js';

/** The report model (SPEC §8): tests, flaky marks, failures with their step, and the summary. */
describe('run report', () => {
  const at = (to: ExecutionFacts['events'][number]['to'], ms: number, reason: string | null = null) => ({ to, at: ms, reason });
  const step = (attempt: number, name: string, status: string, extra: Record<string, unknown> = {}) => ({ attempt, name, status, durationMs: 5, ...extra });

  it('marks a test flaky when an attempt failed and the last one passed, and counts it as retried', () => {
    const [flaky] = reportTests({
      id: 'exe_1',
      name: 'login',
      status: 'PASSED',
      attempt: 2,
      events: [at('PENDING', 0), at('RUNNING', 10), at('RETRYING', 20, 'assertion failed'), at('PENDING', 30), at('RUNNING', 40), at('PASSED', 60)],
      steps: [step(1, 'open', 'FAILED', { error: { message: 'assertion failed' } }), step(2, 'open', 'PASSED')],
    });
    expect(flaky).toMatchObject({ name: 'login', executionId: 'exe_1', status: 'PASSED', attempts: 2, flaky: true, durationMs: 50 });
    expect(flaky?.failure).toBeUndefined();
  });

  it('a test that passed at once, or failed in the end, is not flaky; a failure names its message and step', () => {
    const [passed] = reportTests({ id: 'exe_2', name: 'ok', status: 'PASSED', attempt: 1, events: [at('RUNNING', 0), at('PASSED', 5)], steps: [step(1, 'a', 'PASSED')] });
    expect(passed).toMatchObject({ flaky: false, attempts: 1 });
    const [failed] = reportTests({
      id: 'exe_3',
      name: 'checkout',
      status: 'FAILED',
      attempt: 2,
      events: [at('RUNNING', 0), at('RETRYING', 5), at('RUNNING', 10), at('FAILED', 20, 'step 1 (pay): expected status 200, got 500')],
      steps: [step(2, 'cart', 'PASSED'), step(2, 'pay', 'FAILED', { error: { message: 'expected status 200, got 500' } }), step(2, 'receipt', 'SKIPPED')],
    });
    expect(failed).toMatchObject({ flaky: false, attempts: 2, failure: { message: 'step 1 (pay): expected status 200, got 500', step: 'pay' } });
  });

  it('a BDD scenario is flaky on its own: one that failed in an earlier attempt and passed in the last', () => {
    const tests = reportTests({
      id: 'exe_4',
      name: 'shop',
      type: 'BDD',
      status: 'PASSED',
      attempt: 2,
      events: [at('RUNNING', 0), at('RETRYING', 5), at('RUNNING', 10), at('PASSED', 20)],
      steps: [
        step(1, 'Pay › Then it is paid', 'FAILED', { error: { message: 'no' } }),
        step(1, 'Browse › Given a shop', 'PASSED'),
        step(2, 'Pay › Then it is paid', 'PASSED'),
        step(2, 'Browse › Given a shop', 'PASSED'),
      ],
    });
    expect(tests.map((t) => [t.name, t.status, t.flaky])).toEqual([
      ['shop › Pay', 'PASSED', true],
      ['shop › Browse', 'PASSED', false],
    ]);
    const failing = reportTests({
      id: 'exe_5',
      name: 'shop',
      type: 'BDD',
      status: 'FAILED',
      attempt: 1,
      events: [at('RUNNING', 0), at('FAILED', 20)],
      steps: [step(1, 'Pay › Then it is paid', 'FAILED', { error: { message: 'not paid' } })],
    });
    expect(failing[0]?.failure).toEqual({ message: 'Then it is paid: not paid', step: 'Then it is paid' });
  });

  it('a BDD execution aborted or timed out mid-scenario reports that scenario with its status, not a green suite', () => {
    /** A one-attempt BDD execution `shop` that ended in `status` for `reason`, with these steps. */
    const bdd = (status: ExecutionFacts['status'], reason: string, steps: ReturnType<typeof step>[]) =>
      reportTests({ id: 'exe_6', name: 'shop', type: 'BDD', status, attempt: 1, events: [at('RUNNING', 0), at(status, 20, reason)], steps });
    const stoppedIn = (status: 'ABORTED' | 'TIMEOUT', reason: string) =>
      bdd(status, reason, [step(1, 'One › Given a shop', 'PASSED'), step(1, 'Two › When I wait', 'CANCELLED'), step(1, 'Three › Given a shop', 'SKIPPED')]);
    const aborted = stoppedIn('ABORTED', 'aborted by user:root');
    expect(aborted.map((t) => [t.name, t.status])).toEqual([
      ['shop › One', 'PASSED'],
      ['shop › Two', 'ABORTED'],
      ['shop › Three', 'SKIPPED'],
    ]);
    expect(aborted[1]?.failure).toEqual({ message: 'aborted by user:root', step: 'When I wait' });
    expect(runReport({}, { createdAt: 0, finishedAt: 20 }, aborted).summary).toMatchObject({ passed: 1, errors: 1, skipped: 1 });
    expect(stoppedIn('TIMEOUT', 'run deadline passed')[1]).toMatchObject({ status: 'TIMEOUT', failure: { message: 'run deadline passed' } });

    // Every scenario passed, yet the execution errored: the execution is a test of its own after them.
    const errored = bdd('ERROR', 'worker thread exited', [step(1, 'One › Given a shop', 'PASSED')]);
    expect(errored.map((t) => [t.name, t.status])).toEqual([['shop › One', 'PASSED'], ['shop', 'ERROR']]);
    expect(errored[1]?.failure?.message).toBe('worker thread exited');
    // A cancelled execution's stopped scenario stays a skip.
    expect(bdd('CANCELLED', 'cancelled', [step(1, 'Two › When I wait', 'CANCELLED')]).map((t) => t.status)).toEqual(['CANCELLED']);
  });

  it('the summary counts each outcome, retried and flaky tests, and the run’s wall time', () => {
    const facts = (id: string, status: ExecutionFacts['status'], attempt = 1, retried = false): ExecutionFacts => ({
      id,
      name: id,
      status,
      attempt,
      events: [at('RUNNING', 0), ...(retried ? [at('RETRYING', 1), at('RUNNING', 2)] : []), at(status, 3)],
      steps: [],
    });
    const tests = [
      facts('p', 'PASSED'),
      facts('flaky', 'PASSED', 2, true),
      facts('f', 'FAILED', 3, true),
      facts('e', 'ERROR'),
      facts('t', 'TIMEOUT'),
      facts('a', 'ABORTED'),
      facts('s', 'SKIPPED'),
      facts('c', 'CANCELLED'),
    ].flatMap(reportTests);
    const report = runReport({ id: 'run_1' }, { createdAt: 1_000, finishedAt: 4_500 }, tests);
    expect(report.summary).toEqual({ total: 8, passed: 2, failed: 1, errors: 3, skipped: 2, durationMs: 3_500, retried: 2, flaky: 1 });
    expect(report.run).toEqual({ id: 'run_1' });
    expect(report.tests).toBe(tests);
  });
});
