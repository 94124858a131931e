import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TroupeError } from '../../src/core/errors.js';
import { stepRegistry } from '../../src/runners/bdd/library.js';
import { bddRunner } from '../../src/runners/bdd/runner.js';
import { scenarioCases } from '../../src/runners/bdd/scenarios.js';
import { ADMIN, startEngine, waitFor, type TestEngine } from '../helpers/engine.js';

/**
 * The BDD runner through a real engine and real worker threads, against a local HTTP server: one feature
 * fixture per failure mode (test/fixtures/bdd/features), custom steps from test/fixtures/bdd/steps.
 */
const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'bdd');

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

function startTarget(): Promise<{ server: Server; base: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const users = new Map<number, { id: number; name: string; tags?: string[] }>();
  let nextId = 7;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(payload));
      };
      if (req.url === '/health' || req.url === '/started' || req.url === '/waiting') return send(200, { ok: true });
      if (req.headers['x-token'] !== 'secret') return send(401, { error: 'no token' });
      if (req.method === 'POST' && req.url === '/users') {
        const user = { id: nextId++, ...(JSON.parse(body) as { name: string }) };
        users.set(user.id, user);
        return send(201, user);
      }
      const match = /^\/users\/(\d+)$/.exec(req.url ?? '');
      const user = match ? users.get(Number(match[1])) : undefined;
      if (req.method === 'GET' && user) return send(200, { id: user.id, name: user.name }, { 'x-user': String(user.id) });
      return send(404, { error: 'not found' });
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen })),
  );
}

describe('BDD runner', () => {
  let t: TestEngine;
  let target: Awaited<ReturnType<typeof startTarget>>;
  const previousStepsDir = process.env.TROUPE_BDD_STEPS_DIR;

  beforeAll(async () => {
    target = await startTarget();
    // Worker threads read their configuration from the environment they start with.
    process.env.TROUPE_BDD_STEPS_DIR = join(FIXTURES, 'steps');
    t = await startEngine({ EXECUTION_RETRY_DELAY_SECONDS: '0', QUEUE_WORKER_COUNT: '2' });
  });
  afterAll(async () => {
    await t?.[Symbol.asyncDispose]();
    target?.server.close();
    if (previousStepsDir === undefined) delete process.env.TROUPE_BDD_STEPS_DIR;
    else process.env.TROUPE_BDD_STEPS_DIR = previousStepsDir;
  });

  function feature(name: string): string {
    return readFileSync(join(FIXTURES, 'features', `${name}.feature`), 'utf8').replaceAll('%BASE%', target.base);
  }

  function bdd(name: string, extra: Record<string, unknown> = {}) {
    return { name, type: 'BDD', feature: feature(name), ...extra };
  }

  async function submit(name: string, extra: Record<string, unknown> = {}) {
    const run = await t.engine.coordinator.submitRun({ items: [bdd(name, extra)] }, ADMIN);
    return { runId: run.id, id: run.executionIds[0]! };
  }

  async function runOne(name: string, extra: Record<string, unknown> = {}) {
    const { runId, id } = await submit(name, extra);
    await t.engine.coordinator.waitForRun(runId);
    const execution = (await t.engine.store.getExecution(id))!;
    const events = await t.engine.store.listEvents(id);
    const steps = (await t.engine.store.listSteps(id)).filter((s) => s.attempt === execution.attempt);
    return { execution, events, last: events.at(-1)!, steps };
  }

  it('runs every built-in HTTP phrasing, with saved values and a JSON doc string: PASSED', async () => {
    const before = target.seen.length;
    const { execution, steps } = await runOne('pass');
    expect(execution.status).toBe('PASSED');
    expect(steps.map((s) => s.index)).toEqual(steps.map((_, i) => i));
    expect(steps.every((s) => s.status === 'PASSED')).toBe(true);
    expect(steps.map((s) => s.name)).toEqual([
      `Create and read a user › Given the base URL is "${target.base}"`,
      'Create and read a user › And the header "x-token" is "secret"',
      'Create and read a user › When I send a POST request to "/users" with JSON:',
      'Create and read a user › Then the response status should be 201',
      'Create and read a user › And the response JSON at "$.name" should be "Ada"',
      'Create and read a user › And the response JSON at "$.tags" should be ["math"]',
      'Create and read a user › And the response body should contain "Ada"',
      'Create and read a user › When I save the response JSON at "$.id" as "userId"',
      'Create and read a user › And I send a GET request to "/users/{userId}"',
      'Create and read a user › Then the response status should be 200',
      'Create and read a user › And the response JSON at "$.id" should be {userId}',
      'Create and read a user › And the response header "x-user" should be "{userId}"',
      'Absolute URL without a base › When I send a GET request to "' + target.base + '/health"',
      'Absolute URL without a base › Then the response status should be 200',
      'Absolute URL without a base › And the response JSON at "$.ok" should be true',
    ]);
    const requests = target.seen.slice(before);
    const post = requests.find((r) => r.method === 'POST')!;
    expect(post.headers['content-type']).toBe('application/json');
    expect(post.headers['x-token']).toBe('secret');
    expect(JSON.parse(post.body)).toEqual({ name: 'Ada', tags: ['math'] });
    // `{userId}` was filled in from the saved value: the id the POST answered with.
    const read = requests.find((r) => r.method === 'GET' && r.url.startsWith('/users/'))!;
    expect(read.url).toMatch(/^\/users\/\d+$/);
    expect(steps.find((s) => s.name.includes('with JSON:'))!.output).toContain(`"id":${read.url.slice('/users/'.length)}`);
    expect(steps.find((s) => s.name.includes('as "userId"'))!.output).toMatch(/^userId = \d+$/);
    expect(steps.find((s) => s.name.includes('with JSON:'))!.output).toContain(`POST ${target.base}/users → 201`);
  });

  it('a status mismatch is FAILED with the message; the rest of its scenario is skipped, other scenarios run', async () => {
    const { execution, last, steps, events } = await runOne('fail');
    expect(execution.status).toBe('FAILED');
    expect(last.reason).toContain('scenario "Wrong status" failed at line 5 (Then the response status should be 404)');
    expect(last.reason).toContain('expected status 404, got 200');
    expect(events.some((e) => e.to === 'RETRYING')).toBe(false);
    expect(steps.map((s) => [s.name, s.status])).toEqual([
      ['Wrong status › When I send a GET request to "' + target.base + '/health"', 'PASSED'],
      ['Wrong status › Then the response status should be 404', 'FAILED'],
      ['Wrong status › And the response body should contain "ok"', 'SKIPPED'],
      ['Still runs › When I send a GET request to "' + target.base + '/health"', 'PASSED'],
      ['Still runs › Then the response status should be 200', 'PASSED'],
    ]);
    expect(steps[1]!.error).toMatchObject({ code: 'EXPECTATION_FAILED', message: expect.stringContaining('expected status 404, got 200') });
  });

  it('a step definition that throws is an ERROR, retried while attempts remain', async () => {
    const { execution, last, steps, events } = await runOne('throw', { retry: { maxAttempts: 2, delayMs: 0 } });
    expect(execution.status).toBe('ERROR');
    expect(execution.attempt).toBe(2);
    expect(events.filter((e) => e.to === 'RETRYING')).toHaveLength(1);
    expect(last.reason).toContain('TypeError: step exploded');
    expect(last.reason).toContain('line 4');
    expect(steps.map((s) => s.status)).toEqual(['ERROR', 'SKIPPED']);
  });

  it('a step error marked retryable: false is an ERROR that is not retried', async () => {
    const { execution, last, events } = await runOne('non-retryable', { retry: { maxAttempts: 3, delayMs: 0 } });
    expect(execution.status).toBe('ERROR');
    expect(last.reason).toContain('the fixture data is missing');
    expect(events.some((e) => e.to === 'RETRYING')).toBe(false);
  });

  it('an undefined step is an ERROR naming the step and its line, with a snippet, and is not retried', async () => {
    const { execution, last, steps, events } = await runOne('undefined', { retry: { maxAttempts: 3, delayMs: 0 } });
    expect(execution.status).toBe('ERROR');
    expect(events.some((e) => e.to === 'RETRYING')).toBe(false);
    expect(last.reason).toContain('undefined step "When I frobnicate 3 widgets named "gizmo"" at line 4');
    expect(steps.map((s) => s.status)).toEqual(['ERROR', 'SKIPPED']);
    expect(steps[0]!.error!.message).toContain('steps.define("I frobnicate {int} widgets named {string}", async (world, int, string) => {');
  });

  it('an ambiguous step is an ERROR naming both definitions', async () => {
    const { execution, last } = await runOne('ambiguous');
    expect(execution.status).toBe('ERROR');
    expect(last.reason).toContain('ambiguous step "Given an ambiguous step" at line 4');
    expect(last.reason).toMatch(/"an ambiguous step" \(.*custom\.mjs\) and "\^an\? ambiguous step\$" \(.*other\.mjs\)/);
  });

  it('a feature that does not parse is refused at submit, naming the item and the line', async () => {
    const submit = t.engine.coordinator.submitRun({ items: [bdd('pass'), bdd('malformed')] }, ADMIN);
    const err: unknown = await submit.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TroupeError);
    expect((err as TroupeError).code).toBe('VALIDATION_FAILED');
    expect((err as TroupeError).status).toBe(400);
    expect((err as TroupeError).message).toMatch(/^item 1 \(malformed\): the feature does not parse: line 5, column 3: .*got 'this line is not Gherkin'/);
    expect((err as TroupeError).details).toEqual([{ path: '/items/1/feature', message: expect.stringContaining('line 5') }]);
  });

  it('a feature with no Feature line or no scenario is refused at submit', async () => {
    const { coordinator } = t.engine;
    await expect(coordinator.submitRun({ items: [{ name: 'comment only', type: 'BDD', feature: '# nothing here' }] }, ADMIN)).rejects.toThrow(
      /item 0 \(comment only\): .*no "Feature:" line/,
    );
    await expect(coordinator.submitRun({ items: [{ name: 'empty', type: 'BDD', feature: 'Feature: nothing' }] }, ADMIN)).rejects.toThrow(
      /item 0 \(empty\): the feature has no scenarios/,
    );
  });

  it('a malformed feature that reaches the runner anyway is a non-retryable ERROR naming the line', async () => {
    const controller = new AbortController();
    const result = await bddRunner(
      { name: 'malformed', type: 'BDD', feature: feature('malformed') },
      { signal: controller.signal, deadlineAt: Date.now() + 60_000, executionId: 'exe_test', attempt: 1 },
    );
    expect(result).toMatchObject({ outcome: 'ERROR', steps: [], error: { code: 'VALIDATION_FAILED', retryable: false } });
    expect(result.reason).toContain('line 5');
  });

  it('@skip and @wip skip their scenarios: all skipped is SKIPPED, and nothing in them runs', async () => {
    const { execution, last, steps } = await runOne('skip');
    expect(execution.status).toBe('SKIPPED');
    expect(last.reason).toBe('all 2 scenarios were skipped by tag');
    expect(steps.map((s) => [s.name, s.status, s.output])).toEqual([
      ['Not ready › When I frobnicate 3 widgets named "gizmo"', 'SKIPPED', 'skipped by tag @skip'],
      ['Work in progress › Given a step that throws', 'SKIPPED', 'skipped by tag @wip'],
    ]);
    expect(scenarioCases(steps).map((c) => [c.name, c.status, c.reason])).toEqual([
      ['Not ready', 'SKIPPED', 'skipped by tag @skip'],
      ['Work in progress', 'SKIPPED', 'skipped by tag @wip'],
    ]);
  });

  it('a skipped scenario beside a passing one: PASSED', async () => {
    const { execution, steps } = await runOne('partly-skipped');
    expect(execution.status).toBe('PASSED');
    expect(steps.map((s) => s.status)).toEqual(['SKIPPED', 'PASSED', 'PASSED']);
  });

  it('a Scenario Outline with two rows is two step groups named with the row values', async () => {
    const { execution, last, steps } = await runOne('outline');
    expect(execution.status).toBe('FAILED');
    expect(steps.map((s) => [s.name, s.status])).toEqual([
      ['Add numbers (a=1, b=2, sum=3) › When I add 1 and 2', 'PASSED'],
      ['Add numbers (a=1, b=2, sum=3) › Then the sum should be 3', 'PASSED'],
      ['Add numbers (a=2, b=2, sum=5) › When I add 2 and 2', 'PASSED'],
      ['Add numbers (a=2, b=2, sum=5) › Then the sum should be 5', 'FAILED'],
    ]);
    expect(last.reason).toContain('scenario "Add numbers (a=2, b=2, sum=5)" failed at line 5');
    expect(last.reason).toContain('expected the sum 5, got 4');
    // What a JUnit report makes of it: one case per outline row.
    expect(scenarioCases(steps).map((c) => [c.name, c.status, c.reason])).toEqual([
      ['Add numbers (a=1, b=2, sum=3)', 'PASSED', null],
      ['Add numbers (a=2, b=2, sum=5)', 'FAILED', expect.stringContaining('Then the sum should be 5: expected the sum 5, got 4')],
    ]);
  });

  it('Background steps run first in every scenario, in a fresh world each time', async () => {
    const before = target.seen.length;
    const { execution, steps } = await runOne('background');
    expect(execution.status).toBe('PASSED');
    expect(steps.map((s) => s.name)).toEqual([
      `First › Given the base URL is "${target.base}"`,
      'First › And the header "x-token" is "secret"',
      'First › When I send a POST request to "/users" with JSON:',
      'First › Then the response status should be 201',
      `Second › Given the base URL is "${target.base}"`,
      'Second › And the header "x-token" is "secret"',
      'Second › When I send a GET request to "/health"',
      'Second › Then the response status should be 200',
    ]);
    expect(target.seen.slice(before).map((r) => [r.method, r.url, r.headers['x-token']])).toEqual([
      ['POST', '/users', 'secret'],
      ['GET', '/health', 'secret'],
    ]);
  });

  it('a data table and a doc string reach custom step definitions from TROUPE_BDD_STEPS_DIR', async () => {
    const { execution, steps } = await runOne('table-docstring');
    expect(execution.status).toBe('PASSED');
    expect(steps.map((s) => s.status)).toEqual(['PASSED', 'PASSED', 'PASSED', 'PASSED']);
    expect(steps[0]!.output).toBe('table: [{"name":"Ada","role":"admin"},{"name":"Grace","role":"user"}]');
    expect(steps[2]!.output).toBe('text: line one\nline two');
  });

  it('cancel stops a step that is waiting: CANCELLED, and the steps after it never run', async () => {
    const before = target.seen.length;
    const { runId, id } = await submit('hang');
    // Step 1 has told the target it is waiting: step 0 is over, so the cancel meets step 1.
    await waitFor(() => target.seen.slice(before).some((r) => r.url === '/waiting'), 'step 1 of the hang feature to wait');
    await t.engine.coordinator.command(id, 'CANCEL', ADMIN, 'enough');
    await t.engine.coordinator.waitForRun(runId);
    expect((await t.engine.store.getExecution(id))!.status).toBe('CANCELLED');
    // A later execution on the same (two-thread) pool finishing is as long as we wait to prove an absence.
    const next = await runOne('partly-skipped');
    expect(next.execution.status).toBe('PASSED');
    expect(target.seen.slice(before).some((r) => r.url === '/after')).toBe(false);
  });

  it('the runner reports a cancelled step as CANCELLED and skips the rest', async () => {
    // Straight from the runner: the step statuses it reports when its signal fires.
    const controller = new AbortController();
    const before = target.seen.length;
    const running = bddRunner(
      { name: 'hang', type: 'BDD', feature: feature('hang') },
      { signal: controller.signal, deadlineAt: Date.now() + 60_000, executionId: 'exe_test', attempt: 1 },
    );
    // Not '/started': the target sees that request before step 0 has its answer, and a cancel then meets step 0.
    await waitFor(() => target.seen.slice(before).some((r) => r.url === '/waiting'), 'step 1 of the hang feature to wait');
    controller.abort({ kind: 'cancel', reason: 'enough' });
    const result = await running;
    expect(result.outcome).toBe('CANCELLED');
    expect(result.reason).toBe('enough');
    expect(result.steps.map((s) => s.status)).toEqual(['PASSED', 'CANCELLED', 'SKIPPED']);
  });

  it('step-definition modules that never finish loading are given up on, and the next load tries again', async () => {
    const dir = join(FIXTURES, 'hanging-steps');
    await expect(stepRegistry(dir, 200)).rejects.toThrow(/hanging-steps did not load within 200 ms/);
    // Not cached as a failure forever: a later execution loads again (and here times out again).
    await expect(stepRegistry(dir, 200)).rejects.toThrow(/did not load within/);
  });

  it('the deadline stops a waiting step: TIMEOUT', async () => {
    // The deadline counts from RUNNING, so it must leave step 0 (one local request) time to finish even on a
    // loaded machine; step 1 then waits until the deadline stops it.
    const { execution, steps } = await runOne('hang', { timeoutMs: 3000, retry: { maxAttempts: 1 } });
    expect(execution.status).toBe('TIMEOUT');
    expect(steps.map((s) => s.status)).toEqual(['PASSED', 'TIMEOUT', 'SKIPPED']);
  });

  it('a step that ignores the signal is abandoned at the deadline: TIMEOUT with its steps recorded', async () => {
    const { execution, steps } = await runOne('ignore', { timeoutMs: 300, retry: { maxAttempts: 1 } });
    expect(execution.status).toBe('TIMEOUT');
    expect(steps.map((s) => s.status)).toEqual(['TIMEOUT', 'SKIPPED']);
  });
});
