import { GenericStepSchema, ManualStepSchema, TestItemSchema, type TestItem } from './schemas.js';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { TroupeError } from './errors.js';
import type { ItemType } from './statuses.js';

const genericStep = TypeCompiler.Compile(GenericStepSchema);
const manualStep = TypeCompiler.Compile(ManualStepSchema);
const itemCheck = TypeCompiler.Compile(TestItemSchema);

function reject(label: string, problem: string, path: string): never {
  throw new TroupeError('VALIDATION_FAILED', `${label}: ${problem}`, { details: [{ path, message: problem }] });
}

/**
 * Checks a test item's definition against its type (SPEC §4, §7) at submit, so a bad definition is a 400
 * naming the item and the problem rather than a failed execution later.
 */
export function validateItem(item: unknown, index: number, runnable: readonly ItemType[]): TestItem {
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
    });
  }
  if (item.type === 'BDD' && item.feature === undefined) reject(label, 'a BDD item needs a feature', `/items/${index}/feature`);
  return item;
}
