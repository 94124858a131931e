import { flakyAcrossRuns, isFailing } from '../core/series.js';
import type { Status } from '../core/statuses.js';
import type { RunComparison } from './run-report.js';

/** What a comparison needs of one test of a run. */
export interface ComparedTest {
  name: string;
  status: Status;
  durationMs: number;
  /** Flaky within its run: an attempt failed and a later one passed. */
  flaky: boolean;
}

/** A test is slower when it took at least this much longer than in the base run... */
export const SLOWER_RATIO = 1.5;
/** ...and at least this many milliseconds more: jitter on a short test is not a slowdown. */
export const SLOWER_MIN_MS = 100;

/**
 * How `current` changed against `base` (SPEC §8), tests matched by name (the last of a name in a run counts):
 * new failures (failing now, not failing in the base run or not in it), fixed (passing now, failing in the base
 * run), still failing, flaky (within this run, or its outcome changed within the series' history), added,
 * removed, and slower (both passed; see SLOWER_RATIO and SLOWER_MIN_MS), slowest change first.
 */
export function compareRuns(
  baseRunId: string,
  base: readonly ComparedTest[],
  current: readonly ComparedTest[],
  history: ReadonlyMap<string, { outcomes: readonly Status[] }> = new Map(),
): RunComparison {
  const before = new Map(base.map((t) => [t.name, t]));
  const now = new Map(current.map((t) => [t.name, t]));
  const result: RunComparison = { baseRunId, newFailures: [], fixed: [], stillFailing: [], flaky: [], added: [], removed: [], slower: [] };
  for (const [name, test] of now) {
    const old = before.get(name);
    if (!old) result.added.push(name);
    const failing = isFailing(test.status);
    const failed = old !== undefined && isFailing(old.status);
    if (failing && failed) result.stillFailing.push(name);
    else if (failing) result.newFailures.push(name);
    else if (failed && test.status === 'PASSED') result.fixed.push(name);
    const outcomes = history.get(name)?.outcomes;
    if (test.flaky || (outcomes !== undefined && flakyAcrossRuns(outcomes))) result.flaky.push(name);
    if (old?.status === 'PASSED' && test.status === 'PASSED' && test.durationMs >= old.durationMs * SLOWER_RATIO && test.durationMs - old.durationMs >= SLOWER_MIN_MS) {
      result.slower.push({ name, baseMs: old.durationMs, ms: test.durationMs });
    }
  }
  for (const name of before.keys()) if (!now.has(name)) result.removed.push(name);
  result.slower.sort((a, b) => b.ms - b.baseMs - (a.ms - a.baseMs));
  return result;
}
