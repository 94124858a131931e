import { TestItemSchema, problemsOf, type TestItem } from './schemas.js';
import { describeProblem, type SchemaProblem } from './schema-errors.js';
import { TroupeError } from './errors.js';
import type { ItemType } from './statuses.js';

/** What submit allows beyond the schema. */
export interface DefinitionOptions {
  /**
   * Whether `exec` steps may be submitted (TROUPE_EXEC_ENABLED).
   * @defaultValue false
   */
  execEnabled?: boolean;
}

/**
 * The check of one item type's own definition (a GENERIC item's steps, a BDD item's feature…): null when it
 * can run, else the first problem, its path a JSON pointer inside the item (`/steps/0/ms`) and its message
 * prefixed by where it is (`step 0: …`). Each runner brings its own (src/runners/registry.ts); core only
 * knows the shape, so it never imports a runner.
 */
export type DefinitionCheck = (item: TestItem, options: DefinitionOptions) => SchemaProblem | null;

/** The item types an engine accepts at submit, each with the check of its definition. */
export type ItemDefinitions = Readonly<Partial<Record<ItemType, DefinitionCheck>>>;

function reject(label: string, problem: string, path: string): never {
  throw new TroupeError('VALIDATION_FAILED', `${label}: ${problem}`, { details: [{ path, message: problem }] });
}

/**
 * Checks a test item at submit (SPEC §4, §7): the fields every item has here, then its type's own definition by
 * the check `definitions` holds for that type, so a bad definition is a 400 naming the item and the problem
 * rather than a failed execution later. A type with no check is one no runner is available for.
 */
export function validateItem(
  item: unknown,
  index: number,
  definitions: ItemDefinitions,
  options: DefinitionOptions = {},
): TestItem {
  const named = (item as { name?: unknown } | null)?.name;
  const label = `item ${index}${typeof named === 'string' ? ` (${named})` : ''}`;
  const [first] = problemsOf(TestItemSchema, item, 1);
  if (first) reject(label, describeProblem(first), `/items/${index}${first.path === '/' ? '' : first.path}`);
  const valid = item as TestItem;
  const check = Object.hasOwn(definitions, valid.type) ? definitions[valid.type] : undefined;
  if (!check) {
    throw new TroupeError('UNKNOWN_RUNNER', `${label}: no runner is available for type ${valid.type}`, {
      details: [{ path: `/items/${index}/type`, message: `runnable types: ${Object.keys(definitions).join(', ')}` }],
    });
  }
  const problem = check(valid, options);
  if (problem) reject(label, problem.message, `/items/${index}${problem.path}`);
  return valid;
}
