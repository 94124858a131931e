import { writeFile } from 'node:fs/promises';
import { STATUSES, type Status } from '../core/statuses.js';
import { toHtmlReport, type HtmlRun } from '../report/html.js';
import { toJunitXml } from '../report/junit.js';
import type { RunReport } from '../report/run-report.js';

const NOT_PASSING = new Set(['FAILED', 'ERROR', 'TIMEOUT', 'ABORTED', 'CANCELLED']);

/**
 * `troupe status` exit code for an execution or run status: 1 once it ended without passing, 0 while it is
 * waiting or running and when it passed or was skipped. Local and `--server` answer alike.
 */
export function statusExitCode(status: string): number {
  return NOT_PASSING.has(status) ? 1 : 0;
}

/** Report files `troupe run` writes when asked. */
export interface ReportFiles {
  junit?: string;
  json?: string;
  /** The self-contained HTML page (the same as GET /v1/runs/:id/report?format=html). */
  html?: string;
}

/**
 * Prints the summary (including the `N passed, N failed, N skipped` line CI parsers read), writes the report files
 * asked for, and returns the exit code: 0 when the run PASSED, 1 otherwise.
 */
export async function finishRun(
  out: (line: string) => void,
  report: RunReport<HtmlRun & { name: string }>,
  startedAt: number,
  files: ReportFiles,
): Promise<number> {
  const { run, tests } = report;
  const counts = new Map<Status, number>();
  for (const t of tests) counts.set(t.status, (counts.get(t.status) ?? 0) + 1);
  const tally = STATUSES.filter((s) => counts.has(s)).map((s) => `${s} ${counts.get(s)}`).join(', ');
  out(`Run ${run.id} ${run.status} in ${((Date.now() - startedAt) / 1000).toFixed(2)} s: ${tally}`);
  const passed = counts.get('PASSED') ?? 0;
  const skipped = (counts.get('SKIPPED') ?? 0) + (counts.get('CANCELLED') ?? 0);
  out(`${passed} passed, ${tests.length - passed - skipped} failed, ${skipped} skipped`);
  if (report.summary.flaky > 0) out(`${report.summary.flaky} flaky (failed, then passed on a retry)`);
  if (files.junit) {
    await writeFile(files.junit, toJunitXml({ name: run.name || run.id, id: run.id, cases: tests }));
    out(`JUnit report written to ${files.junit}`);
  }
  if (files.json) {
    await writeFile(files.json, `${JSON.stringify(report, null, 2)}\n`);
    out(`JSON report written to ${files.json}`);
  }
  if (files.html) {
    await writeFile(files.html, toHtmlReport(report));
    out(`HTML report written to ${files.html}`);
  }
  return run.status === 'PASSED' ? 0 : 1;
}
