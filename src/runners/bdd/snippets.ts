/** Suggested step definitions for undefined steps, in the step-module API's shape. */
import { CucumberExpressionGenerator, type ParameterTypeRegistry } from '@cucumber/cucumber-expressions';
import type { PlannedStep } from './parse.js';

/** A `steps.define(…)` snippet that would match `step`, for the undefined-step error. */
export function snippetFor(step: PlannedStep, parameterTypes: ParameterTypeRegistry): string {
  const generator = new CucumberExpressionGenerator(() => parameterTypes.parameterTypes);
  const [expression] = generator.generateExpressions(step.text);
  const source = expression?.source ?? step.text;
  const params = ['world', ...(expression?.parameterNames ?? [])];
  if (step.docString) params.push('docString');
  if (step.dataTable) params.push('dataTable');
  return [
    `steps.define(${JSON.stringify(source)}, async (${params.join(', ')}) => {`,
    `  // Write code here that turns the phrase above into concrete actions`,
    `  throw new Error('pending');`,
    `});`,
  ].join('\n');
}
