import type { RunRecord, Store } from '../store/store.port.js';
import { reportTests, runReport, type ReportTest, type RunReport } from './run-report.js';

/** A run's report from the store, its tests in the order of its items; `view` is the run as the caller shows it. */
export async function storedRunReport<R>(store: Store, run: RunRecord, view: R): Promise<RunReport<R>> {
  const tests: ReportTest[] = [];
  for (const { id } of await store.runMembers(run.id)) {
    const [execution, events, steps] = await Promise.all([store.getExecution(id), store.listEvents(id), store.listSteps(id)]);
    if (execution) tests.push(...reportTests({ ...execution, events, steps }));
  }
  const final = run.status !== 'PENDING' && run.status !== 'RUNNING';
  return runReport(view, { createdAt: run.createdAt, finishedAt: final ? run.updatedAt : null }, tests);
}
