import { GenericStepSchema, type GenericStep } from '../core/schemas.js';
import { toPlainError } from '../core/errors.js';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { PoolOutcome, PoolStep } from '../pool/protocol.js';
import { ACTIONS, type Action } from './generic/actions.js';
import { stopReasonOf, type Runner } from './runner.js';

const stepCheck = TypeCompiler.Compile(GenericStepSchema);

function stepName(step: GenericStep, index: number): string {
  if (step.name) return step.name;
  switch (step.action) {
    case 'http':
      return `${step.request.method} ${step.request.url}`;
    case 'sleep':
      return `sleep ${step.ms} ms`;
    default:
      return `${step.action} #${index + 1}`;
  }
}

/**
 * Runs GENERIC steps in order. The first FAILED step fails the execution and skips the rest; an action
 * that throws is an ERROR (the system failed, not the test); a fired signal ends in TIMEOUT/CANCELLED.
 */
export const genericRunner: Runner = async (item, ctx) => {
  const steps: PoolStep[] = [];
  const defs = item.steps ?? [];
  let outcome: PoolOutcome['outcome'] = 'PASSED';
  let reason: string | null = null;
  let error: PoolOutcome['error'];
  for (let index = 0; index < defs.length; index++) {
    const raw = defs[index];
    if (outcome !== 'PASSED') {
      steps.push({ index, name: `step #${index + 1}`, status: 'SKIPPED', startedAt: Date.now(), durationMs: 0 });
      continue;
    }
    if (!stepCheck.Check(raw)) {
      outcome = 'ERROR';
      reason = `step ${index} is not a valid GENERIC step`;
      error = { code: 'VALIDATION_FAILED', message: reason, retryable: false };
      steps.push({ index, name: `step #${index + 1}`, status: 'ERROR', startedAt: Date.now(), durationMs: 0, error });
      continue;
    }
    const step = raw;
    const name = stepName(step, index);
    const startedAt = Date.now();
    const t0 = performance.now();
    const action = ACTIONS[step.action] as Action;
    try {
      const result = await action(step, ctx);
      const record: PoolStep = { index, name, status: result.status, startedAt, durationMs: Math.round(performance.now() - t0) };
      if (result.output !== undefined) record.output = result.output;
      if (result.status === 'FAILED') {
        outcome = 'FAILED';
        reason = `step ${index} (${name}) failed: ${result.message ?? 'expectation not met'}`;
        record.error = { code: 'EXPECTATION_FAILED', message: result.message ?? 'expectation not met', retryable: false };
      }
      steps.push(record);
    } catch (err) {
      const stop = stopReasonOf(ctx.signal);
      const status = stop === null ? 'ERROR' : stop.kind === 'timeout' ? 'TIMEOUT' : 'CANCELLED';
      const plain = toPlainError(err);
      steps.push({ index, name, status, startedAt, durationMs: Math.round(performance.now() - t0), error: plain });
      outcome = status;
      reason = stop ? stop.reason : `step ${index} (${name}) raised: ${plain.message}`;
      if (!stop) error = plain;
    }
  }
  return error ? { outcome, reason, error, steps } : { outcome, reason, steps };
};
