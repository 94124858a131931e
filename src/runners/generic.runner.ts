import { GenericStepSchema, type GenericStep } from '../core/schemas.js';
import { toPlainError, type PlainError } from '../core/errors.js';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { PoolOutcome, PoolStep } from '../pool/protocol.js';
import { ACTIONS, type Action, type ActionResult } from './generic/actions.js';
import { stopReasonOf, type Runner } from './runner.js';

const stepCheck = TypeCompiler.Compile(GenericStepSchema);

function stepName(step: GenericStep, index: number): string {
  if (step.name) return step.name;
  switch (step.action) {
    case 'http':
      return `${step.request.method} ${step.request.url}`;
    case 'sleep':
      return `sleep ${step.ms} ms`;
    case 'exec':
      return `exec ${step.command}`;
    default:
      return `${step.action} #${index + 1}`;
  }
}

/** Records a finished action as its step plus any sub-steps after it; returns the outcome it decides. */
function record(
  steps: PoolStep[],
  base: Pick<PoolStep, 'index' | 'name' | 'startedAt' | 'durationMs'>,
  result: ActionResult,
  signal: AbortSignal,
): { outcome: PoolOutcome['outcome']; message: string | null; error?: PlainError } {
  const message = result.message ?? null;
  let status: PoolStep['status'];
  let outcome: PoolOutcome['outcome'];
  let stepError: PlainError | undefined;
  let error: PlainError | undefined;
  switch (result.status) {
    case 'PASSED':
      status = outcome = 'PASSED';
      break;
    case 'FAILED':
      status = outcome = 'FAILED';
      stepError = { code: 'EXPECTATION_FAILED', message: message ?? 'expectation not met', retryable: false };
      break;
    case 'TIMEOUT':
      status = outcome = 'TIMEOUT';
      stepError = { code: 'RUNNER_TIMEOUT', message: message ?? 'step timed out', retryable: true };
      break;
    case 'ERROR':
      status = outcome = 'ERROR';
      stepError = error = result.error ?? { code: 'RUNNER_FAILED', message: message ?? 'step failed to run', retryable: true };
      break;
    case 'STOPPED': {
      const stop = stopReasonOf(signal);
      status = outcome = stop === null ? 'ERROR' : stop.kind === 'timeout' ? 'TIMEOUT' : 'CANCELLED';
      if (stop === null) error = { code: 'RUNNER_FAILED', message: message ?? 'step stopped on its own', retryable: true };
      stepError = error ?? { code: stop?.kind === 'timeout' ? 'RUNNER_TIMEOUT' : 'CANCELLED', message: stop?.reason ?? '', retryable: false };
      break;
    }
  }
  const own: PoolStep = { ...base, status };
  if (result.output !== undefined) own.output = result.output;
  if (stepError) own.error = stepError;
  steps.push(own);
  let next = base.index + 1;
  for (const sub of result.subSteps ?? []) {
    const step: PoolStep = {
      index: next++,
      name: sub.name,
      status: sub.status,
      startedAt: base.startedAt,
      durationMs: sub.durationMs,
      caseOf: base.index,
    };
    if (sub.message !== undefined && sub.status !== 'PASSED') {
      step.error = { code: sub.status === 'SKIPPED' ? 'SKIPPED' : 'EXPECTATION_FAILED', message: sub.message, retryable: false };
    }
    steps.push(step);
  }
  return error ? { outcome, message, error } : { outcome, message };
}

/**
 * Runs GENERIC steps in order. The first step that does not pass ends the execution with its status and skips
 * the rest; an action that throws is an ERROR (the system failed, not the test); a fired signal ends in
 * TIMEOUT/CANCELLED. Sub-steps an action reports (JUnit cases of `exec`) are recorded right after its step,
 * so record indexes run on past the definition's and stay unique.
 */
export const genericRunner: Runner = async (item, ctx) => {
  const steps: PoolStep[] = [];
  const defs = item.steps ?? [];
  let outcome: PoolOutcome['outcome'] = 'PASSED';
  let reason: string | null = null;
  let error: PoolOutcome['error'];
  for (let i = 0; i < defs.length; i++) {
    const raw = defs[i];
    const index = steps.length;
    if (outcome !== 'PASSED') {
      steps.push({ index, name: `step #${i + 1}`, status: 'SKIPPED', startedAt: Date.now(), durationMs: 0 });
      continue;
    }
    if (!stepCheck.Check(raw)) {
      outcome = 'ERROR';
      reason = `step ${i} is not a valid GENERIC step`;
      error = { code: 'VALIDATION_FAILED', message: reason, retryable: false };
      steps.push({ index, name: `step #${i + 1}`, status: 'ERROR', startedAt: Date.now(), durationMs: 0, error });
      continue;
    }
    const step = raw;
    const name = stepName(step, i);
    const startedAt = Date.now();
    const t0 = performance.now();
    const action = ACTIONS[step.action] as Action;
    try {
      const result = await action(step, ctx);
      const decided = record(steps, { index, name, startedAt, durationMs: Math.round(performance.now() - t0) }, result, ctx.signal);
      outcome = decided.outcome;
      if (decided.error) error = decided.error;
      if (outcome !== 'PASSED') {
        const stop = result.status === 'STOPPED' ? stopReasonOf(ctx.signal) : null;
        reason = stop ? stop.reason : `step ${i} (${name}) ${VERB[outcome]}: ${decided.message ?? 'expectation not met'}`;
      }
    } catch (err) {
      const stop = stopReasonOf(ctx.signal);
      const status = stop === null ? 'ERROR' : stop.kind === 'timeout' ? 'TIMEOUT' : 'CANCELLED';
      const plain = toPlainError(err);
      steps.push({ index, name, status, startedAt, durationMs: Math.round(performance.now() - t0), error: plain });
      outcome = status;
      reason = stop ? stop.reason : `step ${i} (${name}) raised: ${plain.message}`;
      if (!stop) error = plain;
    }
  }
  return error ? { outcome, reason, error, steps } : { outcome, reason, steps };
};

const VERB: Record<PoolOutcome['outcome'], string> = {
  PASSED: 'passed',
  FAILED: 'failed',
  ERROR: 'could not run',
  TIMEOUT: 'timed out',
  SKIPPED: 'was skipped',
  CANCELLED: 'was cancelled',
};
