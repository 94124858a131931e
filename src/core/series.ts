import type { Status } from './statuses.js';

/**
 * A series is the runs of one owner that share a name and a `labels.repository` (SPEC §8): a test's history, its
 * flakiness across runs, the run a report compares with and the durations the scheduler orders by are all per
 * series. The owner is part of the key because a report shows the run it compares with and the tests of that run:
 * another owner's runs are not visible to the caller (SPEC §5), and another owner's failures must not make a test
 * look flaky (anyone may name a run and label its repository as they like).
 */

/** Runs of a series a test's history keeps. */
export const HISTORY_DEPTH = 10;

/** The key of a run's series. */
export function seriesOf(run: { owner: string; name: string; labels: Record<string, string> }): string {
  return JSON.stringify([run.owner, run.name, run.labels.repository ?? null]);
}

const FAILING = new Set<Status>(['FAILED', 'ERROR', 'TIMEOUT', 'ABORTED']);

/** A test that did not pass: failed, errored, timed out or was aborted (skips and cancels are neither). */
export function isFailing(status: Status): boolean {
  return FAILING.has(status);
}

/** Flaky across runs: within the kept history the test both passed and failed. */
export function flakyAcrossRuns(outcomes: readonly Status[]): boolean {
  return outcomes.includes('PASSED') && outcomes.some(isFailing);
}
