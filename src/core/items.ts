import { GenericStepSchema, ManualStepSchema, TestItemSchema, type GenericStep, type TestItem } from './schemas.js';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { TroupeError } from './errors.js';
import type { ItemType } from './statuses.js';
import { featureProblem } from '../runners/bdd/parse.js';
import { posix, win32 } from 'node:path';

function checkExec(step: GenericStep, i: number, label: string, index: number, options: ValidateOptions): void {
  if (step.action !== 'exec') return;
  if (!options.execEnabled) {
    reject(label, `step ${i}: exec steps are disabled: set TROUPE_EXEC_ENABLED=true`, `/items/${index}/steps/${i}/action`);
  }
  const problem = step.junit === undefined ? null : junitPathProblem(step.junit);
  if (problem) reject(label, `step ${i}: junit ${problem}`, `/items/${index}/steps/${i}/junit`);
}

const genericStep = TypeCompiler.Compile(GenericStepSchema);
const manualStep = TypeCompiler.Compile(ManualStepSchema);
const itemCheck = TypeCompiler.Compile(TestItemSchema);

function reject(label: string, problem: string, path: string): never {
  throw new TroupeError('VALIDATION_FAILED', `${label}: ${problem}`, { details: [{ path, message: problem }] });
}

/** What submit allows beyond the schema. */
export interface ValidateOptions {
  /**
   * Whether `exec` steps may be submitted (TROUPE_EXEC_ENABLED).
   * @defaultValue false
   */
  execEnabled?: boolean;
}

/**
 * Why an exec step's `junit` path is not acceptable, or null: it must be relative and stay inside the step's
 * working directory (SPEC §7), so the engine never reads a file the command did not write there.
 */
export function junitPathProblem(path: string): string | null {
  if (path.includes('\0')) return 'must not contain NUL';
  if (posix.isAbsolute(path) || win32.isAbsolute(path)) return 'must be a relative path';
  const normal = posix.normalize(path.replace(/\\/g, '/'));
  if (normal === '..' || normal.startsWith('../') || normal === '.' || normal.endsWith('/')) {
    return 'must name a file inside the working directory';
  }
  return null;
}

/**
 * Checks a test item's definition against its type (SPEC §4, §7) at submit, so a bad definition is a 400
 * naming the item and the problem rather than a failed execution later.
 */
export function validateItem(
  item: unknown,
  index: number,
  runnable: readonly ItemType[],
  options: ValidateOptions = {},
): TestItem {
  const named = (item as { name?: unknown } | null)?.name;
  const label = `item ${index}${typeof named === 'string' ? ` (${named})` : ''}`;
  if (!itemCheck.Check(item)) {
    const first = itemCheck.Errors(item).First();
    reject(label, `${first?.path || '/'} ${first?.message ?? 'invalid'}`, `/items/${index}${first?.path ?? ''}`);
  }
  if (!runnable.includes(item.type)) {
    throw new TroupeError('UNKNOWN_RUNNER', `${label}: no runner is available for type ${item.type}`, {
      details: [{ path: `/items/${index}/type`, message: `runnable types: ${runnable.join(', ')}` }],
    });
  }
  const steps = item.steps ?? [];
  if (item.type === 'GENERIC' || item.type === 'MANUAL') {
    if (steps.length === 0) reject(label, `a ${item.type} item needs at least one step`, `/items/${index}/steps`);
    const check = item.type === 'GENERIC' ? genericStep : manualStep;
    steps.forEach((step, i) => {
      if (!check.Check(step)) {
        const first = check.Errors(step).First();
        reject(label, `step ${i}: ${first?.path || '/'} ${first?.message ?? 'invalid'}`, `/items/${index}/steps/${i}`);
      }
      if (item.type === 'GENERIC') checkExec(step as GenericStep, i, label, index, options);
    });
  }
  if (item.type === 'BDD') {
    if (item.feature === undefined) reject(label, 'a BDD item needs a feature', `/items/${index}/feature`);
    const problem = featureProblem(item.feature);
    if (problem !== null) reject(label, problem, `/items/${index}/feature`);
  }
  return item;
}
