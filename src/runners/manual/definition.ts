import type { DefinitionCheck } from '../../core/items.js';
import { describeProblem } from '../../core/schema-errors.js';
import { ManualStepSchema, problemsOf } from '../../core/schemas.js';

/**
 * A MANUAL item's definition: at least one step, each `{ instruction, expected }`. The engine runs MANUAL items
 * itself (they pause for a person's verdicts), so this is their only runner-side code.
 */
export const checkManualItem: DefinitionCheck = (item) => {
  const steps = item.steps ?? [];
  if (steps.length === 0) return { path: '/steps', message: 'a MANUAL item needs at least one step' };
  for (const [i, step] of steps.entries()) {
    const [problem] = problemsOf(ManualStepSchema, step, 1);
    if (problem) {
      return { path: `/steps/${i}${problem.path === '/' ? '' : problem.path}`, message: `step ${i}: ${describeProblem(problem)}` };
    }
  }
  return null;
};
