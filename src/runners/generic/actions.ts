import { JSONPath } from 'jsonpath-plus';
import { isDeepStrictEqual } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';
import type { GenericStep } from '../../core/schemas.js';
import type { RunnerContext } from '../runner.js';
import type { ActionResult } from './action-result.js';
import { exec } from './exec.js';

export type { ActionResult, SubStep } from './action-result.js';

export type Action<S extends GenericStep = GenericStep> = (step: S, ctx: RunnerContext) => Promise<ActionResult>;

type StepOf<A extends GenericStep['action']> = Extract<GenericStep, { action: A }>;

const MAX_OUTPUT = 64 * 1024;

const noop: Action<StepOf<'noop'>> = () => Promise.resolve({ status: 'PASSED' });

const sleep: Action<StepOf<'sleep'>> = async (step, ctx) => {
  await delay(step.ms, undefined, { signal: ctx.signal });
  return { status: 'PASSED' };
};

const http: Action<StepOf<'http'>> = async (step, ctx) => {
  const { method, url, headers, body } = step.request;
  const started = performance.now();
  const init: RequestInit = { method, headers: { ...headers }, signal: ctx.signal };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    if (typeof body !== 'string' && !Object.keys(headers ?? {}).some((h) => h.toLowerCase() === 'content-type')) {
      (init.headers as Record<string, string>)['content-type'] = 'application/json';
    }
  }
  const response = await fetch(url, init);
  const text = await response.text();
  const elapsed = performance.now() - started;
  const output = `${method} ${url} → ${response.status} in ${elapsed.toFixed(1)} ms\n${text.slice(0, MAX_OUTPUT)}`;
  const failures: string[] = [];
  const expect = step.expect ?? {};
  const wantStatus = expect.status;
  if (wantStatus !== undefined && response.status !== wantStatus) {
    failures.push(`expected status ${wantStatus}, got ${response.status}`);
  } else if (wantStatus === undefined && response.status >= 400) {
    failures.push(`status ${response.status}`);
  }
  for (const [name, value] of Object.entries(expect.headers ?? {})) {
    const got = response.headers.get(name);
    if (got !== value) failures.push(`expected header ${name}: ${value}, got ${got ?? '(absent)'}`);
  }
  if (expect.bodyContains !== undefined && !text.includes(expect.bodyContains)) {
    failures.push(`expected body to contain ${JSON.stringify(expect.bodyContains)}`);
  }
  if (expect.maxMs !== undefined && elapsed > expect.maxMs) {
    failures.push(`expected at most ${expect.maxMs} ms, took ${elapsed.toFixed(1)} ms`);
  }
  if (expect.json) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      failures.push('expected a JSON body');
    }
    if (doc !== undefined) {
      for (const [path, want] of Object.entries(expect.json)) {
        const found: unknown[] = JSONPath({ path, json: doc as object, wrap: true });
        const got = found.length === 1 ? found[0] : found.length === 0 ? undefined : found;
        if (!isDeepStrictEqual(got, want)) {
          failures.push(`expected ${path} = ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
        }
      }
    }
  }
  return failures.length === 0 ? { status: 'PASSED', output } : { status: 'FAILED', output, message: failures.join('; ') };
};

/** The GENERIC step actions. `exec` refuses to run unless TROUPE_EXEC_ENABLED is set where it runs. */
export const ACTIONS: { [A in GenericStep['action']]: Action<StepOf<A>> } = { noop, sleep, http, exec };
