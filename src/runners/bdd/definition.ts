import type { DefinitionCheck } from '../../core/items.js';
import { featureProblem } from './parse.js';

/** A BDD item's definition: a feature that parses and has at least one scenario. */
export const checkBddItem: DefinitionCheck = (item) => {
  if (item.feature === undefined) return { path: '/feature', message: 'a BDD item needs a feature' };
  const problem = featureProblem(item.feature);
  return problem === null ? null : { path: '/feature', message: problem };
};
