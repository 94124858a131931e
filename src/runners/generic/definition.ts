import { posix, win32 } from 'node:path';
import type { DefinitionCheck } from '../../core/items.js';
import { describeProblem, type SchemaProblem } from '../../core/schema-errors.js';
import { GenericStepSchema, problemsOf, type GenericStep } from '../../core/schemas.js';

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

function execProblem(step: GenericStep, execEnabled: boolean): SchemaProblem | null {
  if (step.action !== 'exec') return null;
  if (!execEnabled) return { path: '/action', message: 'exec steps are disabled: set TROUPE_EXEC_ENABLED=true' };
  const problem = step.junit === undefined ? null : junitPathProblem(step.junit);
  return problem ? { path: '/junit', message: `junit ${problem}` } : null;
}

/** A GENERIC item's definition: at least one step, each an action of SPEC §7 (`exec` only when enabled). */
export const checkGenericItem: DefinitionCheck = (item, options) => {
  const steps = item.steps ?? [];
  if (steps.length === 0) return { path: '/steps', message: 'a GENERIC item needs at least one step' };
  for (const [i, step] of steps.entries()) {
    const [problem] = problemsOf(GenericStepSchema, step, 1);
    if (problem) {
      return { path: `/steps/${i}${problem.path === '/' ? '' : problem.path}`, message: `step ${i}: ${describeProblem(problem)}` };
    }
    const exec = execProblem(step as GenericStep, options.execEnabled ?? false);
    if (exec) return { path: `/steps/${i}${exec.path}`, message: `step ${i}: ${exec.message}` };
  }
  return null;
};
