import { writeFile } from 'node:fs/promises';
import { STATUSES, type Status } from '../core/statuses.js';
import { toJunitXml, type ReportCase } from '../report/junit.js';
import { scenarioCases } from '../runners/bdd/scenarios.js';

const NOT_PASSING = new Set(['FAILED', 'ERROR', 'TIMEOUT', 'ABORTED', 'CANCELLED']);

/**
 * `troupe status` exit code for an execution or run status: 1 once it ended without passing, 0 while it is
 * waiting or running and when it passed or was skipped. Local and `--server` answer alike.
 */
export function statusExitCode(status: string): number {
  return NOT_PASSING.has(status) ? 1 : 0;
}

/** What a report needs of one execution, from the local store or from the API. */
export interface ExecutionFacts {
  name: string;
  /** The item type; a BDD execution reports one case per scenario (outline row). */
  type?: string;
  status: Status;
  attempt: number;
  events: { to: Status; at: number; reason: string | null }[];
  steps: {
    attempt: number;
    name: string;
    status: string;
    durationMs?: number;
    output?: string;
    error?: { message: string };
    /** Set on a test case ingested from a JUnit file (an `exec` step's). */
    caseOf?: number;
  }[];
}

/**
 * The report cases of one execution (SPEC §7): one per scenario or outline row of a BDD execution that
 * recorded steps, named `<execution> › <scenario>`; otherwise the execution itself, followed by one case per
 * test case its `exec` steps ingested from JUnit files.
 */
export function reportCases(e: ExecutionFacts): ReportCase[] {
  if (e.type === 'BDD') {
    const scenarios = scenarioCases(e.steps.filter((s) => s.attempt === e.attempt).map((s) => ({ durationMs: 0, ...s })));
    if (scenarios.length > 0) {
      return scenarios.map((c) => ({
        name: `${e.name} › ${c.name}`,
        status: c.status,
        durationMs: c.durationMs,
        reason: c.reason,
        ...(c.output ? { output: c.output } : {}),
      }));
    }
  }
  const ingested = e.steps
    .filter((s) => s.attempt === e.attempt && s.caseOf !== undefined)
    .map((s): ReportCase => ({
      name: `${e.name} › ${s.name}`,
      status: CASE_STATUS[s.status] ?? 'ERROR',
      durationMs: s.durationMs ?? 0,
      reason: s.status === 'PASSED' || s.status === 'SKIPPED' ? null : (s.error?.message ?? s.status),
      ...(s.output ? { output: s.output } : {}),
    }));
  return [reportCase(e), ...ingested];
}

const CASE_STATUS: Record<string, Status> = { PASSED: 'PASSED', FAILED: 'FAILED', SKIPPED: 'SKIPPED', ERROR: 'ERROR', TIMEOUT: 'TIMEOUT', CANCELLED: 'CANCELLED' };

function reportCase(e: ExecutionFacts): ReportCase {
  const last = e.events[e.events.length - 1];
  const firstRun = e.events.find((ev) => ev.to === 'RUNNING');
  const output = e.steps
    .filter((s) => s.attempt === e.attempt && (s.output || s.error))
    .map((s) => `[${s.status}] ${s.name}${s.error ? `: ${s.error.message}` : ''}${s.output ? `\n${s.output}` : ''}`)
    .join('\n');
  return {
    name: e.name,
    status: e.status,
    durationMs: firstRun && last ? Math.max(0, last.at - firstRun.at) : 0,
    reason: last?.reason ?? null,
    ...(output ? { output } : {}),
  };
}

/**
 * Prints the summary (including the `N passed, N failed, N skipped` line CI parsers read), writes JUnit when
 * asked, and returns the exit code: 0 when the run PASSED, 1 otherwise.
 */
export async function finishRun(
  out: (line: string) => void,
  run: { id: string; name: string; status: string; startedAt: number },
  cases: ReportCase[],
  junit: string | undefined,
): Promise<number> {
  const counts = new Map<Status, number>();
  for (const c of cases) counts.set(c.status, (counts.get(c.status) ?? 0) + 1);
  const tally = STATUSES.filter((s) => counts.has(s)).map((s) => `${s} ${counts.get(s)}`).join(', ');
  out(`Run ${run.id} ${run.status} in ${((Date.now() - run.startedAt) / 1000).toFixed(2)} s: ${tally}`);
  const passed = counts.get('PASSED') ?? 0;
  const skipped = (counts.get('SKIPPED') ?? 0) + (counts.get('CANCELLED') ?? 0);
  out(`${passed} passed, ${cases.length - passed - skipped} failed, ${skipped} skipped`);
  if (junit) {
    await writeFile(junit, toJunitXml({ name: run.name, id: run.id, cases }));
    out(`JUnit report written to ${junit}`);
  }
  return run.status === 'PASSED' ? 0 : 1;
}
