/**
 * Gherkin parsing for BDD items: the submit-time check (`featureProblem`) and the scenario plan the runner
 * executes. A leaf module — it imports only the Cucumber packages — so the submit path can use it too.
 */
import { AstBuilder, GherkinClassicTokenMatcher, Parser, compile } from '@cucumber/gherkin';
import { IdGenerator, type GherkinDocument, type Pickle, type PickleStep, type Scenario, type Step, type TableRow } from '@cucumber/messages';

/** A feature that does not parse; `message` names every problem with its line and column. */
export class FeatureParseError extends Error {
  override readonly name = 'FeatureParseError';
}

/** One step of a scenario as the runner executes and reports it. */
export interface PlannedStep {
  /** `Given `, `When `, `And `… as written (with its trailing space). */
  keyword: string;
  /** The step text, with an outline row's values filled in. */
  text: string;
  line: number;
  docString?: { content: string; mediaType?: string };
  dataTable?: string[][];
}

/** One scenario or one Examples row: a step group. */
export interface PlannedScenario {
  /** Unique within the feature: the scenario name, an outline row's values, and a line when names repeat. */
  label: string;
  line: number;
  tags: string[];
  steps: PlannedStep[];
}

export interface FeaturePlan {
  name: string;
  scenarios: PlannedScenario[];
}

interface LocatedError {
  message: string;
  location?: { line: number; column?: number };
}

function describe(err: unknown): string {
  const errors = (err as { errors?: LocatedError[] }).errors;
  const list: LocatedError[] = Array.isArray(errors) && errors.length > 0 ? errors : [err as LocatedError];
  return list
    .map((e) => {
      // Gherkin prefixes messages with "(line:column): "; say it in words instead.
      const text = String(e.message).replace(/^\(\d+:\d+\):\s*/, '');
      const at = e.location ? `line ${e.location.line}${e.location.column ? `, column ${e.location.column}` : ''}: ` : '';
      return `${at}${text}`;
    })
    .join('; ');
}

function parseDocument(text: string): GherkinDocument {
  try {
    return new Parser(new AstBuilder(IdGenerator.incrementing()), new GherkinClassicTokenMatcher()).parse(text);
  } catch (err) {
    throw new FeatureParseError(`the feature does not parse: ${describe(err)}`, { cause: err });
  }
}

/**
 * Why a feature text cannot run, or null when it can: a parse error (with line and column), no `Feature:`
 * line, or no scenario at all.
 */
export function featureProblem(text: string): string | null {
  try {
    planFeature(text);
    return null;
  } catch (err) {
    if (err instanceof FeatureParseError) return err.message;
    throw err;
  }
}

/** Every AST node the pickles refer to, by id. */
function indexNodes(doc: GherkinDocument): { steps: Map<string, Step>; rows: Map<string, { header: TableRow | undefined; row: TableRow }>; scenarios: Map<string, Scenario> } {
  const steps = new Map<string, Step>();
  const rows = new Map<string, { header: TableRow | undefined; row: TableRow }>();
  const scenarios = new Map<string, Scenario>();
  const addSteps = (list: readonly Step[]) => list.forEach((s) => steps.set(s.id, s));
  const addScenario = (scenario: Scenario) => {
    scenarios.set(scenario.id, scenario);
    addSteps(scenario.steps);
    for (const examples of scenario.examples) {
      for (const row of examples.tableBody) rows.set(row.id, { header: examples.tableHeader, row });
    }
  };
  for (const child of doc.feature?.children ?? []) {
    if (child.background) addSteps(child.background.steps);
    if (child.scenario) addScenario(child.scenario);
    for (const ruleChild of child.rule?.children ?? []) {
      if (ruleChild.background) addSteps(ruleChild.background.steps);
      if (ruleChild.scenario) addScenario(ruleChild.scenario);
    }
  }
  return { steps, rows, scenarios };
}

function planStep(step: PickleStep, nodes: Map<string, Step>): PlannedStep {
  const node = nodes.get(step.astNodeIds[0] ?? '');
  const planned: PlannedStep = { keyword: node?.keyword ?? '* ', text: step.text, line: node?.location.line ?? 0 };
  const doc = step.argument?.docString;
  if (doc) planned.docString = doc.mediaType ? { content: doc.content, mediaType: doc.mediaType } : { content: doc.content };
  const table = step.argument?.dataTable;
  if (table) planned.dataTable = table.rows.map((r) => r.cells.map((c) => c.value));
  return planned;
}

function scenarioLabel(pickle: Pickle, nodes: ReturnType<typeof indexNodes>): string {
  const example = nodes.rows.get(pickle.astNodeIds[1] ?? '');
  const name = pickle.name || nodes.scenarios.get(pickle.astNodeIds[0] ?? '')?.keyword || 'Scenario';
  if (!example) return name;
  const header = example.header?.cells.map((c) => c.value) ?? [];
  const values = example.row.cells.map((c, i) => `${header[i] ?? i}=${c.value}`);
  return `${name} (${values.join(', ')})`;
}

/**
 * Parses a feature into its step groups: one per scenario and one per Examples row (Gherkin pickles, so
 * Background steps come first in each). Throws FeatureParseError.
 */
export function planFeature(text: string): FeaturePlan {
  const doc = parseDocument(text);
  if (!doc.feature) throw new FeatureParseError('the feature does not parse: there is no "Feature:" line');
  let pickles: readonly Pickle[];
  try {
    pickles = compile(doc, 'feature', IdGenerator.incrementing());
  } catch (err) {
    throw new FeatureParseError(`the feature does not parse: ${describe(err)}`, { cause: err });
  }
  if (pickles.length === 0) throw new FeatureParseError('the feature has no scenarios (an outline needs an Examples row)');
  const nodes = indexNodes(doc);
  const scenarios = pickles.map((pickle) => ({
    label: scenarioLabel(pickle, nodes),
    line: pickle.location?.line ?? 0,
    tags: pickle.tags.map((t) => t.name),
    steps: pickle.steps.map((s) => planStep(s, nodes.steps)),
  }));
  // JUnit groups steps by label, so two scenarios of one name are told apart by their line.
  const seen = new Map<string, number>();
  for (const s of scenarios) seen.set(s.label, (seen.get(s.label) ?? 0) + 1);
  for (const s of scenarios) if ((seen.get(s.label) ?? 0) > 1) s.label = `${s.label} (line ${s.line})`;
  return { name: doc.feature.name, scenarios };
}
