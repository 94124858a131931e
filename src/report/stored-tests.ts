import type { RunRecord, Store } from '../store/store.port.js';
import { reportTests, runReport, type ReportTest, type RunReport } from './run-report.js';

/** The report tests of these executions, in this order, read from the store (an id it does not hold is left out). */
export async function storedTests(store: Store, executionIds: readonly string[]): Promise<ReportTest[]> {
  const tests: ReportTest[] = [];
  for (const id of executionIds) {
    const [execution, events, steps] = await Promise.all([store.getExecution(id), store.listEvents(id), store.listSteps(id)]);
    if (!execution) continue;
    tests.push(...reportTests({ ...execution, events, steps }));
  }
  return tests;
}

/** A run's report from the store, its tests in the order of its items; `view` is the run as the caller shows it. */
export async function storedRunReport<R>(store: Store, run: RunRecord, view: R): Promise<RunReport<R>> {
  const members = await store.runMembers(run.id);
  const tests = await storedTests(
    store,
    members.map((m) => m.id),
  );
  const final = run.status !== 'PENDING' && run.status !== 'RUNNING';
  return runReport(view, { createdAt: run.createdAt, finishedAt: final ? run.updatedAt : null }, tests);
}
