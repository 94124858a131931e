import type { TransitionRecord } from '../../../machines/execution.machine.js';
import type { RunStatus, Status } from '../../core/statuses.js';
import type { PlainError } from '../../core/errors.js';
import type {
  ApiKeyRecord,
  ExecutionRecord,
  Role,
  RunRecord,
  StepRecord,
  SuiteRecord,
  TestCaseRecord,
} from '../store.port.js';

/** The mapping between the SQLite rows and the store port's records. */

export interface ExecutionRow {
  id: string;
  run_id: string | null;
  name: string;
  type: string;
  status: string;
  priority: string;
  context: string;
  attempt: number;
  owner: string;
  created_at: number;
  updated_at: number;
  rerun_of: string | null;
  item: string;
  machine: string;
  version: number;
}

export interface RunRow {
  id: string;
  name: string;
  status: string;
  owner: string;
  priority: string;
  context: string;
  labels: string;
  fail_fast: number;
  max_parallel: number | null;
  idempotency_key: string | null;
  request_hash: string | null;
  total: number;
  created_at: number;
  updated_at: number;
}

export interface EventRow {
  cursor: number;
  execution_id: string;
  run_id: string | null;
  seq: number;
  from_status: string | null;
  to_status: string;
  event: string;
  at: number;
  attempt: number;
  reason: string | null;
  actor: string;
}


export function toExecution(row: ExecutionRow): ExecutionRecord {
  return {
    id: row.id,
    runId: row.run_id,
    name: row.name,
    type: row.type as ExecutionRecord['type'],
    status: row.status as Status,
    priority: row.priority as ExecutionRecord['priority'],
    context: row.context as ExecutionRecord['context'],
    attempt: row.attempt,
    owner: row.owner,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    rerunOf: row.rerun_of,
    item: JSON.parse(row.item) as ExecutionRecord['item'],
    machine: JSON.parse(row.machine) as ExecutionRecord['machine'],
    version: row.version,
  };
}

export function toRun(row: RunRow): RunRecord {
  return {
    id: row.id,
    name: row.name,
    status: row.status as RunStatus,
    owner: row.owner,
    priority: row.priority as RunRecord['priority'],
    context: row.context as RunRecord['context'],
    labels: JSON.parse(row.labels) as Record<string, string>,
    failFast: row.fail_fast === 1,
    maxParallel: row.max_parallel,
    idempotencyKey: row.idempotency_key,
    requestHash: row.request_hash,
    total: row.total,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** One row of the merged event log: a transition (step columns null) or a step event (transition columns null). */
export interface LogRow {
  cursor: number;
  kind: 'transition' | 'step';
  execution_id: string;
  run_id: string | null;
  seq: number | null;
  from_status: string | null;
  to_status: string | null;
  event: string | null;
  at: number | null;
  attempt: number;
  reason: string | null;
  actor: string | null;
  idx: number | null;
  name: string | null;
  status: string | null;
  started_at: number | null;
  duration_ms: number | null;
  output: string | null;
  error: string | null;
  case_of: number | null;
}

const TRANSITION_COLUMNS = `e.cursor, 'transition' AS kind, e.execution_id, e.run_id, e.seq, e.from_status, e.to_status,
  e.event, e.at, e.attempt, e.reason, e.actor, NULL AS idx, NULL AS name, NULL AS status, NULL AS started_at,
  NULL AS duration_ms, NULL AS output, NULL AS error, NULL AS case_of`;
const STEP_COLUMNS = `x.cursor, 'step', x.execution_id, x.run_id, NULL, NULL, NULL, NULL, NULL, x.attempt, NULL, NULL,
  s.idx, s.name, s.status, s.started_at, s.duration_ms, s.output, s.error, s.case_of`;

/** The merged log after a cursor: each table's first `limit` rows (both are cursor-ordered), merged. */
export const LOG_SINCE = `
SELECT * FROM (
  SELECT * FROM (SELECT ${TRANSITION_COLUMNS} FROM events e WHERE e.cursor > @cursor ORDER BY e.cursor LIMIT @limit)
  UNION ALL
  SELECT * FROM (SELECT ${STEP_COLUMNS} FROM step_events x
    JOIN steps s ON s.execution_id = x.execution_id AND s.attempt = x.attempt AND s.idx = x.idx
    WHERE x.cursor > @cursor ORDER BY x.cursor LIMIT @limit)
) ORDER BY cursor LIMIT @limit`;

export type StepRow = { attempt: number } & {
  [K in 'idx' | 'name' | 'status' | 'started_at' | 'duration_ms' | 'output' | 'error' | 'case_of']: NonNullable<LogRow[K]> | null;
};

export function toStep(row: Omit<StepRow, 'attempt'>): StepRecord {
  return {
    index: row.idx as number,
    name: row.name as string,
    status: row.status as StepRecord['status'],
    startedAt: row.started_at as number,
    durationMs: row.duration_ms as number,
    ...(row.output === null ? {} : { output: row.output }),
    ...(row.error === null ? {} : { error: JSON.parse(row.error) as PlainError }),
    ...(row.case_of === null ? {} : { caseOf: row.case_of }),
  };
}

export function toRecord(row: EventRow): TransitionRecord {
  return {
    seq: row.seq,
    from: row.from_status as Status | null,
    to: row.to_status as Status,
    event: row.event as TransitionRecord['event'],
    at: row.at,
    attempt: row.attempt,
    reason: row.reason,
    actor: row.actor,
  };
}


export interface ApiKeyRow {
  id: string;
  hash: string;
  owner: string;
  role: string;
  name: string;
  created_at: number;
  revoked_at: number | null;
}

export function toApiKey(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    hash: row.hash,
    owner: row.owner,
    role: row.role as Role,
    name: row.name,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}

export interface TestCaseRow {
  id: string;
  owner: string;
  item: string;
  version: number;
  created_at: number;
  updated_at: number;
}

export function toTestCase(row: TestCaseRow): TestCaseRecord {
  return {
    id: row.id,
    owner: row.owner,
    item: JSON.parse(row.item) as TestCaseRecord['item'],
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export interface SuiteRow {
  id: string;
  owner: string;
  name: string;
  testcase_ids: string;
  version: number;
  created_at: number;
  updated_at: number;
}

export function toSuite(row: SuiteRow): SuiteRecord {
  return {
    id: row.id,
    owner: row.owner,
    name: row.name,
    testCaseIds: JSON.parse(row.testcase_ids) as string[],
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
