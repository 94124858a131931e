import { RETRYABLE_OUTCOMES, type Status } from '../core/statuses.js';
import { isFailing } from '../core/series.js';
import { scenarioCases } from '../runners/bdd/scenarios.js';
import type { ReportCase } from './junit.js';

/** What a report needs of one execution, read from the store or from the API. */
export interface ExecutionFacts {
  id: string;
  name: string;
  /** The item type; a BDD execution reports one test per scenario (outline row). */
  type?: string;
  status: Status;
  attempt: number;
  /** Its transitions, oldest first. */
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

/** One test of a run's report (SPEC §8): an execution, a BDD scenario (outline row) or an ingested test case. */
export interface ReportTest extends ReportCase {
  executionId: string;
  /** Attempts its execution made. */
  attempts: number;
  /** An earlier attempt failed and the last one passed. */
  flaky: boolean;
  failure?: { message: string; step?: string };
}

export interface ReportSummary {
  total: number;
  passed: number;
  /** FAILED. */
  failed: number;
  /** ERROR, TIMEOUT and ABORTED. */
  errors: number;
  /** SKIPPED and CANCELLED. */
  skipped: number;
  /** The run's wall time: created → finished (→ now while it runs). */
  durationMs: number;
  /** Tests whose execution made more than one attempt. */
  retried: number;
  flaky: number;
}

/** How a run's tests changed against an earlier run (SPEC §8 compare); tests matched by name. */
export interface RunComparison {
  baseRunId: string;
  newFailures: string[];
  fixed: string[];
  stillFailing: string[];
  flaky: string[];
  added: string[];
  removed: string[];
  slower: { name: string; baseMs: number; ms: number }[];
}

/** A run's report (SPEC §8); `run` is the run as the caller shows it (the API's run view). */
export interface RunReport<R = unknown> {
  run: R;
  summary: ReportSummary;
  tests: ReportTest[];
  /** Against the previous run of its series (same owner, name and labels.repository), when there is one. */
  comparison?: RunComparison;
}

/** A test failed in an attempt when it ended in an outcome a retry policy can retry. */
const FAILED_ATTEMPT = new Set<string>(RETRYABLE_OUTCOMES);
const ERRORS = new Set(['ERROR', 'TIMEOUT', 'ABORTED']);
const SKIPS = new Set(['SKIPPED', 'CANCELLED']);
const CASE_STATUS: Record<string, Status> = { PASSED: 'PASSED', FAILED: 'FAILED', SKIPPED: 'SKIPPED', ERROR: 'ERROR', TIMEOUT: 'TIMEOUT', CANCELLED: 'CANCELLED' };

/** A test before the execution-wide facts (id, attempts, flakiness) are added. */
interface Case extends ReportCase {
  step?: string;
}

/**
 * The tests of one execution (SPEC §7, §8): one per scenario or outline row of a BDD execution that recorded
 * steps, named `<execution> › <scenario>`; otherwise the execution itself, followed by one test per test case its
 * `exec` steps ingested from JUnit files. Each is flaky when it passed in the last attempt after failing in an
 * earlier one.
 */
export function reportTests(e: ExecutionFacts): ReportTest[] {
  const final = casesOf(e, e.attempt);
  // What failed before the last attempt, by test name (earlier attempts hold scenarios and ingested cases only);
  // the execution itself failed an attempt when it was retried.
  const failedEarlier = new Set<string>();
  for (let attempt = 1; attempt < e.attempt; attempt++) {
    for (const c of casesOf(e, attempt)) if (FAILED_ATTEMPT.has(c.status)) failedEarlier.add(c.name);
  }
  if (e.events.some((ev) => ev.to === 'RETRYING')) failedEarlier.add(e.name);
  return final.map(({ step, ...c }) => ({
    ...c,
    executionId: e.id,
    attempts: e.attempt,
    flaky: c.status === 'PASSED' && failedEarlier.has(c.name),
    ...(c.status === 'PASSED' || SKIPS.has(c.status) ? {} : { failure: { message: c.reason ?? c.status, ...(step ? { step } : {}) } }),
  }));
}

function casesOf(e: ExecutionFacts, attempt: number): Case[] {
  const steps = e.steps.filter((s) => s.attempt === attempt);
  if (e.type === 'BDD') {
    const scenarios = scenarioCases(steps.map((s) => ({ durationMs: 0, ...s }))).map((c) => ({ ...c, name: `${e.name} › ${c.name}` }));
    if (scenarios.length > 0) return attempt === e.attempt ? withExecutionOutcome(e, scenarios, steps) : scenarios;
  }
  const ingested = steps
    .filter((s) => s.caseOf !== undefined)
    .map((s): Case => ({
      name: `${e.name} › ${s.name}`,
      status: CASE_STATUS[s.status] ?? 'ERROR',
      durationMs: s.durationMs ?? 0,
      reason: s.status === 'PASSED' || s.status === 'SKIPPED' ? null : (s.error?.message ?? s.status),
      ...(s.output ? { output: s.output } : {}),
    }));
  return attempt === e.attempt ? [executionCase(e, steps), ...ingested] : ingested;
}

/**
 * A BDD execution that ended failing (aborted, timed out by the engine, errored) while none of its scenarios failed
 * — the runner marks the scenario it was stopped in CANCELLED and the rest SKIPPED — must not report a green
 * suite: the scenario it was stopped in takes the execution's status and reason; with none, the execution is
 * reported as a test of its own after its scenarios.
 */
function withExecutionOutcome(e: ExecutionFacts, scenarios: Case[], steps: ExecutionFacts['steps']): Case[] {
  if (!isFailing(e.status) || scenarios.some((c) => isFailing(c.status))) return scenarios;
  const stopped = scenarios.findIndex((c) => c.status === 'CANCELLED');
  const reason = e.events[e.events.length - 1]?.reason ?? e.status;
  if (stopped === -1) return [...scenarios, executionCase(e, steps)];
  return scenarios.map((c, i) => (i === stopped ? { ...c, status: e.status, reason } : c));
}

/** The execution as one test: its final status, the reason of its last transition, its steps' output. */
function executionCase(e: ExecutionFacts, steps: ExecutionFacts['steps']): Case {
  const last = e.events[e.events.length - 1];
  const output = steps
    .filter((s) => s.output || s.error)
    .map((s) => `[${s.status}] ${s.name}${s.error ? `: ${s.error.message}` : ''}${s.output ? `\n${s.output}` : ''}`)
    .join('\n');
  const bad = steps.find((s) => s.caseOf === undefined && s.status !== 'PASSED' && s.status !== 'SKIPPED');
  return {
    name: e.name,
    status: e.status,
    durationMs: executionDurationMs(e),
    reason: last?.reason ?? null,
    ...(bad ? { step: bad.name } : {}),
    ...(output ? { output } : {}),
  };
}

/** An execution's time from its first start to its last transition (0 when it never started). */
export function executionDurationMs(e: Pick<ExecutionFacts, 'events'>): number {
  const last = e.events[e.events.length - 1];
  const firstRun = e.events.find((ev) => ev.to === 'RUNNING');
  return firstRun && last ? Math.max(0, last.at - firstRun.at) : 0;
}

/** The report of a run from its tests; `createdAt` and `finishedAt` (null while it runs) time it. */
export function runReport<R>(run: R, timing: { createdAt: number; finishedAt: number | null }, tests: ReportTest[]): RunReport<R> {
  const summary: ReportSummary = {
    total: tests.length,
    passed: 0,
    failed: 0,
    errors: 0,
    skipped: 0,
    durationMs: Math.max(0, (timing.finishedAt ?? Date.now()) - timing.createdAt),
    retried: 0,
    flaky: 0,
  };
  for (const t of tests) {
    if (t.status === 'PASSED') summary.passed++;
    else if (t.status === 'FAILED') summary.failed++;
    else if (ERRORS.has(t.status)) summary.errors++;
    else if (SKIPS.has(t.status)) summary.skipped++;
    if (t.attempts > 1) summary.retried++;
    if (t.flaky) summary.flaky++;
  }
  return { run, summary, tests };
}
