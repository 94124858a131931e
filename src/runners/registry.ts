import type { DefinitionCheck, ItemDefinitions } from '../core/items.js';
import type { ItemType } from '../core/statuses.js';
import { checkBddItem } from './bdd/definition.js';
import { bddRunner } from './bdd/runner.js';
import { checkGenericItem } from './generic/definition.js';
import { genericRunner } from './generic.runner.js';
import { checkManualItem } from './manual/definition.js';
import type { Runner } from './runner.js';

/**
 * Runner per item type, run on worker threads. MANUAL is not here: the engine runs it itself (it pauses for
 * a person's verdicts), so it needs no worker.
 */
export const RUNNERS: Partial<Record<ItemType, Runner>> = {
  GENERIC: genericRunner,
  BDD: bddRunner,
};

/** Each item type's own check of its definition, asked at submit by the item's type. */
const DEFINITIONS: Record<ItemType, DefinitionCheck> = {
  GENERIC: checkGenericItem,
  BDD: checkBddItem,
  MANUAL: checkManualItem,
};

export function runnerTypes(): ItemType[] {
  return Object.keys(RUNNERS) as ItemType[];
}

/** What an engine accepts at submit when `types` are the ones it can run: each with its definition's check. */
export function definitionsFor(types: readonly ItemType[]): ItemDefinitions {
  return Object.fromEntries(types.map((type) => [type, DEFINITIONS[type]]));
}
