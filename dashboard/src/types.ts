/** The API's shapes, as far as the dashboard reads them (docs/api.md). */

export const STATUSES = ['CREATED', 'SCHEDULED', 'PENDING', 'RUNNING', 'PAUSED', 'RETRYING', 'PASSED', 'FAILED', 'ERROR', 'TIMEOUT', 'ABORTED', 'SKIPPED', 'CANCELLED'] as const;
export const TERMINAL = new Set(['PASSED', 'FAILED', 'ERROR', 'TIMEOUT', 'ABORTED', 'SKIPPED', 'CANCELLED']);
export const FAILING = new Set(['FAILED', 'ERROR', 'TIMEOUT', 'ABORTED']);
export const RUN_STATUSES = ['PENDING', 'RUNNING', 'PASSED', 'FAILED', 'CANCELLED'] as const;

export interface Run {
  id: string;
  name: string;
  status: string;
  total: number;
  counts: Record<string, number>;
  owner: string;
  labels: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

export interface ManualStep {
  instruction?: string;
  expected?: string;
  name?: string;
}

export interface Execution {
  id: string;
  runId: string | null;
  name: string;
  type: string;
  status: string;
  attempt: number;
  maxAttempts: number;
  owner: string;
  createdAt: string;
  updatedAt: string;
  item: { steps?: ManualStep[] };
}

export interface Step {
  index: number;
  attempt: number;
  name: string;
  status: string;
  durationMs: number;
  error?: { code: string; message: string };
  output?: string;
}

export interface TransitionEvent {
  type: 'transition';
  executionId: string;
  runId: string | null;
  seq: number;
  from: string | null;
  to: string;
  at: string;
  attempt: number;
  reason: string | null;
}

export interface StepEvent {
  type: 'step';
  executionId: string;
  runId: string | null;
}

export type LiveEvent = TransitionEvent | StepEvent;
