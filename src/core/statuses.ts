/** The twelve lifecycle statuses of an execution (SPEC §3). The single source of the status list. */
export const STATUSES = [
  'SCHEDULED',
  'PENDING',
  'RUNNING',
  'PAUSED',
  'RETRYING',
  'PASSED',
  'FAILED',
  'SKIPPED',
  'CANCELLED',
  'TIMEOUT',
  'ERROR',
  'ABORTED',
] as const;
export type Status = (typeof STATUSES)[number];

export const TERMINAL_STATUSES = [
  'PASSED',
  'FAILED',
  'SKIPPED',
  'CANCELLED',
  'TIMEOUT',
  'ERROR',
  'ABORTED',
] as const satisfies readonly Status[];
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

const terminalSet: ReadonlySet<Status> = new Set(TERMINAL_STATUSES);
export function isTerminal(status: Status): status is TerminalStatus {
  return terminalSet.has(status);
}

/** Lifecycle event names (SPEC §3). */
export const EVENT_TYPES = [
  'DUE',
  'START',
  'PASS',
  'FAIL',
  'ERROR',
  'TIMEOUT',
  'SKIP',
  'PAUSE',
  'RESUME',
  'CANCEL',
  'ABORT',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Outcomes a retry policy may cover. */
export const RETRYABLE_OUTCOMES = ['FAILED', 'ERROR', 'TIMEOUT'] as const satisfies readonly Status[];
export type RetryableOutcome = (typeof RETRYABLE_OUTCOMES)[number];

/** Highest first. */
export const PRIORITIES = ['CRITICAL', 'HIGH', 'NORMAL', 'LOW', 'DEFERRED'] as const;
export type Priority = (typeof PRIORITIES)[number];
export function priorityRank(priority: Priority): number {
  return PRIORITIES.indexOf(priority);
}

export const CONTEXTS = ['MANUAL', 'SCHEDULED', 'CI_CD', 'API', 'BULK'] as const;
export type ExecutionContextKind = (typeof CONTEXTS)[number];

export const ITEM_TYPES = ['GENERIC', 'BDD', 'MANUAL'] as const;
export type ItemType = (typeof ITEM_TYPES)[number];

/** Run statuses (SPEC §7). */
export const RUN_STATUSES = ['PENDING', 'RUNNING', 'PASSED', 'FAILED', 'CANCELLED'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
