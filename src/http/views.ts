import type { TransitionRecord } from '../../machines/execution.machine.js';
import { isTerminal, type Status } from '../core/statuses.js';
import type { ExecutionRecord, RunRecord, StoredStep } from '../store/store.port.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/**
 * Views of records read in a terminal status, which never change again: the store hands out the same record
 * object for them, so each is built once however often it is polled.
 */
const finishedViews = new WeakMap<ExecutionRecord, ReturnType<typeof buildExecutionView>>();

/** Execution as clients see it (SPEC §7). */
export function executionView(e: ExecutionRecord) {
  if (!isTerminal(e.status)) return buildExecutionView(e);
  let view = finishedViews.get(e);
  if (!view) {
    view = buildExecutionView(e);
    finishedViews.set(e, view);
  }
  return view;
}

function buildExecutionView(e: ExecutionRecord) {
  return {
    id: e.id,
    runId: e.runId,
    name: e.name,
    type: e.type,
    status: e.status,
    priority: e.priority,
    context: e.context,
    attempt: e.attempt,
    maxAttempts: e.machine.retry.maxAttempts,
    owner: e.owner,
    rerunOf: e.rerunOf,
    createdAt: iso(e.createdAt),
    updatedAt: iso(e.updatedAt),
    scheduledAt: iso(e.machine.scheduledAt),
    deadlines: {
      run: iso(e.machine.runDeadlineAt),
      queue: iso(e.machine.queueDeadlineAt),
      pause: iso(e.machine.pauseDeadlineAt),
      retry: iso(e.machine.retryAt),
    },
    item: e.item,
  };
}

export function eventView(r: TransitionRecord) {
  return { ...r, at: iso(r.at) };
}

export function stepView(s: StoredStep) {
  return {
    index: s.index,
    attempt: s.attempt,
    name: s.name,
    status: s.status,
    startedAt: iso(s.startedAt),
    durationMs: s.durationMs,
    ...(s.error ? { error: { code: s.error.code, message: s.error.message } } : {}),
    ...(s.output === undefined ? {} : { output: s.output }),
    ...(s.caseOf === undefined ? {} : { caseOf: s.caseOf }),
  };
}

export function runView(r: RunRecord, counts: Partial<Record<Status, number>>) {
  return {
    id: r.id,
    name: r.name,
    status: r.status,
    total: r.total,
    counts,
    owner: r.owner,
    priority: r.priority,
    context: r.context,
    labels: r.labels,
    failFast: r.failFast,
    maxParallel: r.maxParallel,
    idempotencyKey: r.idempotencyKey,
    createdAt: iso(r.createdAt),
    updatedAt: iso(r.updatedAt),
  };
}
