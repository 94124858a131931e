import type { ItemType } from '../core/statuses.js';
import { genericRunner } from './generic.runner.js';
import type { Runner } from './runner.js';

/**
 * Runner per item type. BDD and MANUAL register here when their runners exist; until then a submit of
 * those types is rejected with UNKNOWN_RUNNER.
 */
export const RUNNERS: Partial<Record<ItemType, Runner>> = {
  GENERIC: genericRunner,
};

export function runnerTypes(): ItemType[] {
  return Object.keys(RUNNERS) as ItemType[];
}
