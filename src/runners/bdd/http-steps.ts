/** The built-in HTTP step library (SPEC §7): every BDD execution can use these phrasings. */
import { JSONPath } from 'jsonpath-plus';
import { ParameterType } from '@cucumber/cucumber-expressions';
import { isDeepStrictEqual } from 'node:util';
import type { StepRegistry } from './steps.js';
import type { World } from './world.js';

const BUILT_IN = 'built-in';

function at(json: unknown, path: string): unknown {
  const found: unknown[] = JSONPath({ path, json: json as object, wrap: true });
  return found.length === 1 ? found[0] : found.length === 0 ? undefined : found;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    // The feature is wrong, not the system under test: an ERROR that retrying cannot fix.
    throw Object.assign(new Error(`${what} is not JSON: ${(err as Error).message}\n${text}`), { retryable: false });
  }
}

/** Registers the built-in HTTP steps and their `{method}` parameter type. */
export function defineHttpSteps(registry: StepRegistry): void {
  registry.parameterTypes.defineParameterType(
    new ParameterType('method', /GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS/, String, (s: string) => s, false, false),
  );
  const define = (expression: string, fn: (world: World, ...args: never[]) => unknown) => registry.define(expression, fn, BUILT_IN);

  define('the base URL is {string}', (world, url: string) => {
    world.baseUrl = url;
  });
  define('the header {string} is {string}', (world, name: string, value: string) => {
    world.headers[name] = value;
  });
  define('I send a {method} request to {string}', async (world, method: string, target: string) => {
    await world.request(method, target);
  });
  define('I send a {method} request to {string} with JSON:', async (world, method: string, target: string, doc: string) => {
    parseJson(doc, 'the request body');
    await world.request(method, target, { text: doc, contentType: 'application/json' });
  });
  define('I send a {method} request to {string} with body:', async (world, method: string, target: string, doc: string) => {
    await world.request(method, target, { text: doc, contentType: 'text/plain' });
  });
  define('the response status should be {int}', (world, status: number) => {
    const res = world.lastResponse();
    if (res.status !== status) world.fail(`expected status ${status}, got ${res.status} from ${res.method} ${res.url}`);
  });
  define('the response JSON at {string} should be {}', (world, path: string, wantText: string) => {
    const want = parseJson(wantText, `the expected value ${wantText}`);
    const got = at(world.responseJson(), path);
    if (!isDeepStrictEqual(got, want)) world.fail(`expected ${path} = ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  });
  define('the response JSON at {string} should exist', (world, path: string) => {
    if (at(world.responseJson(), path) === undefined) world.fail(`expected ${path} to exist`);
  });
  define('the response body should contain {string}', (world, text: string) => {
    const res = world.lastResponse();
    if (!res.text.includes(text)) world.fail(`expected the body to contain ${JSON.stringify(text)}, got: ${res.text.slice(0, 200)}`);
  });
  define('the response header {string} should be {string}', (world, name: string, value: string) => {
    const got = world.lastResponse().headers.get(name);
    if (got !== value) world.fail(`expected header ${name}: ${value}, got ${got ?? '(absent)'}`);
  });
  define('I save the response JSON at {string} as {string}', (world, path: string, name: string) => {
    const value = at(world.responseJson(), path);
    if (value === undefined) world.fail(`nothing at ${path} to save as "${name}"`);
    world.values[name] = value;
    world.log(`${name} = ${JSON.stringify(value)}`);
  });
}
