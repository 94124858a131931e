import { HISTORY_DEPTH, seriesOf } from '../core/series.js';
import type { Status } from '../core/statuses.js';
import type { RunRecord, Store } from '../store/store.port.js';
import { compareRuns, type ComparedTest } from './compare.js';
import { uniqueNames } from './unique-names.js';
import { reportTests, runReport, type ReportTest, type RunComparison, type RunReport } from './run-report.js';

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
  const recorded = await store.runOutcomes(run.id);
  return { ...report, comparison: await comparison(store, run, recorded ?? tests, recorded !== null, previous) };
}

/** How `run` changed against `base` (GET /v1/runs/:id/compare/:baseId). */
export async function storedComparison(store: Store, run: RunRecord, base: RunRecord): Promise<RunComparison> {
  const recorded = await store.runOutcomes(run.id);
  return comparison(store, run, recorded ?? (await storedTests(store, run)), recorded !== null, base.id);
}

async function storedTests(store: Store, run: RunRecord): Promise<ReportTest[]> {
  const unique = uniqueNames();
  const tests: ReportTest[] = [];
  for (const execution of await store.runFacts(run.id)) {
    for (const test of reportTests(execution)) tests.push({ ...test, name: unique(test.name) });
  }
  return tests;
}

/**
 * `tests` against the base run's outcomes (recorded when it ended, else read as they stand). Flakiness across runs
 * looks at the series' history with this run's outcomes in it: added here while they are not `recorded`.
 */
async function comparison(store: Store, run: RunRecord, tests: readonly ComparedTest[], recorded: boolean, baseId: string): Promise<RunComparison> {
  const base = (await store.runOutcomes(baseId)) ?? (await storedTestsOf(store, baseId));
  const history: Map<string, { outcomes: Status[] }> = await store.testHistory(seriesOf(run), tests.map((t) => t.name));
  if (!recorded) {
    for (const t of tests) history.set(t.name, { outcomes: [...(history.get(t.name)?.outcomes ?? []), t.status].slice(-HISTORY_DEPTH) });
  }
  return compareRuns(baseId, base, tests, history);
}

async function storedTestsOf(store: Store, runId: string): Promise<ReportTest[]> {
  const run = await store.getRun(runId);
  return run ? storedTests(store, run) : [];
}
