import { seriesOf } from '../core/series.js';
import type { RunRecord, Store } from '../store/store.port.js';
import { compareRuns, type ComparedTest } from './compare.js';
import { reportTests, runReport, type ReportTest, type RunComparison, type RunReport } from './run-report.js';

/** Above this many tests a comparison reads the series' whole history in one index range, not test by test. */
const HISTORY_BY_NAME_MAX = 1000;

/**
 * A run's report from the store, its tests in the order of its items, compared with the previous ended run of its
 * series when there is one; `view` is the run as the caller shows it.
 */
export async function storedRunReport<R>(store: Store, run: RunRecord, view: R): Promise<RunReport<R>> {
  const tests = await storedTests(store, run);
  const final = run.status !== 'PENDING' && run.status !== 'RUNNING';
  const report = runReport(view, { createdAt: run.createdAt, finishedAt: final ? run.updatedAt : null }, tests);
  const previous = await store.previousRun(run.id);
  if (previous === null) return report;
  return { ...report, comparison: await comparison(store, run, tests, previous) };
}

/** How `run` changed against `base` (GET /v1/runs/:id/compare/:baseId). */
export async function storedComparison(store: Store, run: RunRecord, base: RunRecord): Promise<RunComparison> {
  return comparison(store, run, await outcomesOf(store, run), base.id);
}

async function storedTests(store: Store, run: RunRecord): Promise<ReportTest[]> {
  const tests: ReportTest[] = [];
  for (const execution of await store.runFacts(run.id)) tests.push(...reportTests(execution));
  return tests;
}

/** The outcomes recorded when the run ended; from its executions as they stand while it runs. */
async function outcomesOf(store: Store, run: RunRecord): Promise<ComparedTest[]> {
  return (await store.runOutcomes(run.id)) ?? (await storedTests(store, run));
}

async function comparison(store: Store, run: RunRecord, tests: readonly ComparedTest[], baseId: string): Promise<RunComparison> {
  const base = (await store.runOutcomes(baseId)) ?? (await outcomesOfId(store, baseId));
  const names = tests.length <= HISTORY_BY_NAME_MAX ? tests.map((t) => t.name) : undefined;
  return compareRuns(baseId, base, tests, await store.testHistory(seriesOf(run), names));
}

async function outcomesOfId(store: Store, runId: string): Promise<ComparedTest[]> {
  const run = await store.getRun(runId);
  return run ? storedTests(store, run) : [];
}
