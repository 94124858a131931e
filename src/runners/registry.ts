import type { ItemType } from '../core/statuses.js';
import { bddRunner } from './bdd/runner.js';
import { genericRunner } from './generic.runner.js';
import type { Runner } from './runner.js';

/**
 * Runner per item type, run on worker threads. MANUAL is not here: the engine runs it itself (it pauses for
 * a person's verdicts), so it needs no worker.
 */
export const RUNNERS: Partial<Record<ItemType, Runner>> = {
  GENERIC: genericRunner,
  BDD: bddRunner,
};

export function runnerTypes(): ItemType[] {
  return Object.keys(RUNNERS) as ItemType[];
}
