import { constants, accessSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { TroupeError } from '../core/errors.js';
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

const FLAG: Record<keyof ReportFiles, string> = { junit: '--junit', json: '--json', html: '--html' };
const REPORT_NAME: Record<keyof ReportFiles, string> = { junit: 'JUnit', json: 'JSON', html: 'HTML' };

/**
 * Refuses report paths that cannot be written before anything runs (SPEC §8: a bad flag is exit 2 and names it):
 * a directory, or a file whose directory is missing or not writable.
 */
export function checkReportFiles(files: ReportFiles): void {
  for (const [key, path] of Object.entries(files) as [keyof ReportFiles, string | undefined][]) {
    if (path === undefined) continue;
    const file = resolve(path);
    const problem = (() => {
      try {
        if (statSync(file, { throwIfNoEntry: false })?.isDirectory()) return 'is a directory';
        accessSync(dirname(file), constants.W_OK);
        return null;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === 'ENOENT' ? `directory ${dirname(file)} does not exist` : `directory ${dirname(file)} is not writable`;
      }
    })();
    if (problem) throw new TroupeError('VALIDATION_FAILED', `${FLAG[key]} ${path}: ${problem}`);
  }
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
  // Every file asked for is attempted; one that cannot be written fails the command (exit 2) after the others.
  const writes: [keyof ReportFiles, () => string][] = [
    ['junit', () => toJunitXml({ name: run.name || run.id, id: run.id, cases: tests })],
    ['json', () => `${JSON.stringify(report, null, 2)}\n`],
    ['html', () => toHtmlReport(report)],
  ];
  let failure: TroupeError | null = null;
  for (const [key, content] of writes) {
    const path = files[key];
    if (path === undefined) continue;
    const text = content();
    try {
      await writeFile(path, text);
      out(`${REPORT_NAME[key]} report written to ${path}`);
    } catch (err) {
      failure ??= new TroupeError('VALIDATION_FAILED', `${FLAG[key]} ${path}: the report could not be written: ${(err as Error).message}`, { cause: err });
    }
  }
  if (failure !== null) throw failure;
  return run.status === 'PASSED' ? 0 : 1;
}
