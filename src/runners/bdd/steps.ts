/**
 * The step-definition registry: Cucumber expressions (or regular expressions) mapped to step functions,
 * matched against each Gherkin step's text.
 */
import { ExpressionFactory, ParameterType, ParameterTypeRegistry, type Expression } from '@cucumber/cucumber-expressions';
import type { World } from './world.js';

/** A Gherkin data table as passed to a step function (its last argument). */
export class DataTable {
  constructor(private readonly cells: string[][]) {}

  /** Every row, header included. */
  raw(): string[][] {
    return this.cells.map((row) => [...row]);
  }

  /** Rows after the header. */
  rows(): string[][] {
    return this.raw().slice(1);
  }

  /** One object per row after the header, keyed by the header's cells. */
  hashes(): Record<string, string>[] {
    const [header = [], ...rows] = this.cells;
    return rows.map((row) => Object.fromEntries(header.map((key, i) => [key, row[i] ?? ''])));
  }

  /** A two-column table as an object: first column the keys, second the values. */
  rowsHash(): Record<string, string> {
    return Object.fromEntries(this.cells.map((row) => [row[0] ?? '', row[1] ?? '']));
  }
}

/**
 * A step function: the scenario's World first, then one argument per expression parameter, then the doc
 * string (a string) or data table (a DataTable) when the step has one. Throwing StepFailure or an
 * AssertionError fails the step; any other error is an ERROR; an error with `retryable: false` is an ERROR
 * that is not retried.
 */
export type StepFunction = (world: World, ...args: never[]) => unknown;

/** A custom parameter type, usable in expressions as `{name}`. */
export interface ParameterTypeDefinition {
  name: string;
  regexp: RegExp | string | readonly (RegExp | string)[];
  /** Turns the matched text into the argument; defaults to the text. */
  transformer?: (...groups: string[]) => unknown;
}

/** What a step-definition module's default export receives. */
export interface StepLibrary {
  /** Registers a step: a Cucumber expression such as `I have {int} cukes`, or a RegExp. */
  define(expression: string | RegExp, fn: StepFunction): void;
  /** Registers a parameter type for later expressions. */
  defineParameterType(type: ParameterTypeDefinition): void;
  /** Throws a StepFailure: the step is FAILED (not ERROR). */
  fail(message: string): never;
}

export interface StepDefinition {
  expression: Expression;
  fn: StepFunction;
  /** Where it was defined: `built-in` or the module's file. */
  source: string;
}

export type StepMatch =
  | { kind: 'match'; definition: StepDefinition; args: unknown[] }
  | { kind: 'undefined' }
  | { kind: 'ambiguous'; definitions: StepDefinition[] };

/** One registry per steps directory per thread: built-in steps plus every loaded module's. */
export class StepRegistry {
  readonly parameterTypes = new ParameterTypeRegistry();
  private readonly factory = new ExpressionFactory(this.parameterTypes);
  private readonly definitions: StepDefinition[] = [];

  define(expression: string | RegExp, fn: StepFunction, source: string): void {
    if (typeof fn !== 'function') throw new TypeError(`step "${String(expression)}" in ${source}: the step function is missing`);
    this.definitions.push({ expression: this.factory.createExpression(expression), fn, source });
  }

  defineParameterType(type: ParameterTypeDefinition): void {
    const transform = type.transformer ?? ((...groups: string[]) => groups[0]);
    this.parameterTypes.defineParameterType(
      new ParameterType(type.name, type.regexp, null, transform, true, false),
    );
  }

  /** The library object handed to a module, with its definitions attributed to `source`. */
  libraryFor(source: string, fail: (message: string) => never): StepLibrary {
    return {
      define: (expression, fn) => this.define(expression, fn, source),
      defineParameterType: (type) => this.defineParameterType(type),
      fail,
    };
  }

  /** The definitions whose expression matches `text`, with their arguments. */
  match(text: string): StepMatch {
    const found: { definition: StepDefinition; args: unknown[] }[] = [];
    for (const definition of this.definitions) {
      const args = definition.expression.match(text);
      if (args) found.push({ definition, args: args.map((a) => a.getValue<unknown>(null)) });
    }
    if (found.length === 0) return { kind: 'undefined' };
    if (found.length > 1) return { kind: 'ambiguous', definitions: found.map((f) => f.definition) };
    const [only] = found as [{ definition: StepDefinition; args: unknown[] }];
    return { kind: 'match', ...only };
  }
}
