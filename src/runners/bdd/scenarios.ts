/**
 * BDD step names carry their scenario: `<scenario label> › <Keyword><text>`. Reports split them back into one
 * case per scenario (outline row) with `scenarioCases`. Pure: safe to import on the main thread.
 */

/** Separates a scenario's label from a step in BDD step names. */
export const SCENARIO_SEPARATOR = ' › ';

type CaseStatus = 'PASSED' | 'FAILED' | 'SKIPPED' | 'ERROR' | 'TIMEOUT' | 'CANCELLED';

/** What a report needs of one recorded BDD step. */
export interface ScenarioStepFacts {
  name: string;
  status: string;
  durationMs: number;
  output?: string;
  error?: { message: string };
}

/** One scenario (or outline row) of a BDD execution, as a report case. */
export interface ScenarioCase {
  name: string;
  status: CaseStatus;
  durationMs: number;
  reason: string | null;
  /** The step that decided a case that did not pass (without its scenario label). */
  step?: string;
  output?: string;
}

/** Worst first: the case takes the first of these that any of its steps has. */
const SEVERITY: readonly CaseStatus[] = ['ERROR', 'TIMEOUT', 'CANCELLED', 'FAILED', 'PASSED'];

/** The scenario label of a BDD step name, or null when the name carries none. */
export function scenarioOf(stepName: string): string | null {
  const at = stepName.indexOf(SCENARIO_SEPARATOR);
  return at < 0 ? null : stepName.slice(0, at);
}

/**
 * One case per scenario, in order, from one attempt's steps: ERROR/TIMEOUT/CANCELLED/FAILED when any step
 * is, SKIPPED when every step was skipped, else PASSED; the reason is the first unsuccessful step's error.
 */
export function scenarioCases(steps: readonly ScenarioStepFacts[]): ScenarioCase[] {
  const groups = new Map<string, ScenarioStepFacts[]>();
  for (const step of steps) {
    const label = scenarioOf(step.name) ?? step.name;
    const group = groups.get(label) ?? [];
    group.push(step);
    groups.set(label, group);
  }
  return [...groups].map(([name, group]) => {
    const status = SEVERITY.find((s) => group.some((g) => g.status === s)) ?? 'SKIPPED';
    const bad = status === 'PASSED' || status === 'SKIPPED' ? undefined : group.find((g) => g.status === status);
    const step = bad ? bad.name.slice(name.length + SCENARIO_SEPARATOR.length) : null;
    const reason = bad ? `${step}: ${bad.error?.message ?? bad.status}` : status === 'SKIPPED' ? (group[0]?.output ?? null) : null;
    const output = group
      .filter((g) => g.output || g.error)
      .map((g) => `[${g.status}] ${g.name}${g.error ? `: ${g.error.message}` : ''}${g.output ? `\n${g.output}` : ''}`)
      .join('\n');
    return {
      name,
      status,
      durationMs: group.reduce((sum, g) => sum + g.durationMs, 0),
      reason,
      ...(step ? { step } : {}),
      ...(output ? { output } : {}),
    };
  });
}
