import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import type { TSchema } from '@sinclair/typebox';

/** One problem with a value, at a JSON pointer inside it (`/` for the value itself). */
export interface SchemaProblem {
  path: string;
  message: string;
}

/** A value as a message quotes it: JSON, cut short so that a huge value does not flood the answer. */
function show(value: unknown): string {
  if (value === undefined) return 'undefined';
  // JSON.stringify answers undefined only for functions and symbols, which parsed JSON never holds.
  const text = JSON.stringify(value) ?? typeof value;
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The field a path points at: its last segment that is not an array index (`/retry/retryOn/0` → `retryOn`). */
function fieldOf(path: string): string {
  const names = path.split('/').filter((s) => s !== '' && !/^\d+$/.test(s));
  return names.at(-1)?.replace(/~1/g, '/').replace(/~0/g, '~') ?? 'value';
}

/** A literal schema's value (`Type.Literal('x')` is `{ const: 'x' }`); undefined for any other schema. */
function constOf(schema: TSchema | undefined): unknown {
  return schema !== undefined && 'const' in schema ? (schema as Record<string, unknown>).const : undefined;
}

/** The values of a union of literals (`"GENERIC" | "BDD" | "MANUAL"`), or null for any other union. */
function literalsOf(variants: readonly TSchema[]): unknown[] | null {
  return variants.every((v) => 'const' in v) ? variants.map(constOf) : null;
}

/**
 * The property that tells the variants of a union of objects apart (`action` of a GENERIC step) and its value
 * per variant, or null when there is none.
 */
function discriminatorOf(variants: readonly TSchema[]): { key: string; values: unknown[] } | null {
  const first = variants[0] as { properties?: Record<string, TSchema> } | undefined;
  for (const key of Object.keys(first?.properties ?? {})) {
    const values = variants.map((v) => constOf((v as { properties?: Record<string, TSchema> }).properties?.[key]));
    if (values.every((v) => v !== undefined) && new Set(values).size === values.length) return { key, values };
  }
  return null;
}

const oneOf = (values: readonly unknown[]) => `expected one of ${values.map((v) => (typeof v === 'string' ? v : show(v))).join(', ')}`;

/**
 * Says what is wrong in words a user can act on. TypeBox answers a union with "Expected union value"; this
 * names the bad value and lists the accepted ones, and for a union of objects told apart by a property (a
 * step's `action`) whose value is known, it follows that variant to the field that is wrong.
 */
export function explainError(error: ValueError): SchemaProblem {
  const path = error.path || '/';
  if (error.type !== ValueErrorType.Union) return { path, message: error.message };
  const variants = ((error.schema as { anyOf?: TSchema[] }).anyOf ?? []);
  const literals = literalsOf(variants);
  if (literals) return { path, message: `unknown ${fieldOf(path)} ${show(error.value)}; ${oneOf(literals)}` };
  const tag = discriminatorOf(variants);
  if (tag) {
    const at = `${error.path}/${tag.key}`;
    const value = error.value;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return { path, message: `expected an object with "${tag.key}" (${oneOf(tag.values).replace('expected ', '')}), got ${show(value)}` };
    }
    const given = (value as Record<string, unknown>)[tag.key];
    if (given === undefined) return { path: at, message: `missing ${tag.key}; ${oneOf(tag.values)}` };
    const chosen = tag.values.indexOf(given);
    if (chosen < 0) return { path: at, message: `unknown ${tag.key} ${show(given)}; ${oneOf(tag.values)}` };
    const inner = error.errors[chosen]?.First();
    if (inner) return explainError(inner);
  }
  const kinds = variants.map((v) => (typeof v.type === 'string' ? v.type : 'value'));
  return { path, message: `${show(error.value)} matches none of the accepted forms (${kinds.join(', ')})` };
}

/**
 * The first `max` problems of a failed check, explained (see explainError), the same problem only once.
 * `errors` is what TypeBox's `Errors(value)` iterates.
 */
export function explainErrors(errors: Iterable<ValueError>, max = 10): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    const problem = explainError(error);
    const key = `${problem.path} ${problem.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(problem);
    if (problems.length >= max) break;
  }
  return problems;
}

/**
 * One problem as a line of a message. A union's problem names its field already (`unknown action "x"; …`), so
 * the path is left out where it only repeats that name; elsewhere the path comes first (`/ms Expected integer`).
 */
export function describeProblem(problem: SchemaProblem): string {
  const named = /^(unknown|missing) (\w+)/.exec(problem.message)?.[2];
  const segments = problem.path.split('/').filter((s) => s !== '' && !/^\d+$/.test(s));
  if (problem.path === '/' || (named !== undefined && segments.length === 1 && segments[0] === named)) return problem.message;
  return `${problem.path} ${problem.message}`;
}
