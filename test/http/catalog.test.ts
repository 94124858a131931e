import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/log.js';
import { issueApiKey } from '../../src/http/auth.js';
import { startServer, type Server } from '../../src/http/server.js';
import { startEngine, waitFor, type TestEngine } from '../helpers/engine.js';

/** Test cases and suites over the real server: CRUD, ownership, and runs that snapshot what they ran. */
describe('test cases and suites', () => {
  let t: TestEngine;
  let server: Server;
  let alice: string;
  let bob: string;
  const call = async (key: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${server.port}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON answers
  };

  beforeAll(async () => {
    t = await startEngine();
    const config = loadConfig({ TROUPE_DATA_DIR: t.dir, API_RATE_LIMIT_PER_MINUTE: '100000' });
    server = await startServer({ engine: t.engine, config, logger: createLogger('silent'), port: 0, host: '127.0.0.1' });
    alice = (await issueApiKey(t.engine.store, 'alice', 'runner', 'test')).secret;
    bob = (await issueApiKey(t.engine.store, 'bob', 'runner', 'test')).secret;
  });
  afterAll(async () => {
    await server.close();
    await t[Symbol.asyncDispose]();
  });

  it('creates, reads, replaces and deletes a test case; bad definitions are 400 and store nothing', async () => {
    const created = await call(alice, 'POST', '/v1/testcases', { name: 'ping', type: 'GENERIC', steps: [{ action: 'noop' }] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ owner: 'alice', version: 1, item: { name: 'ping' } });
    const id = created.body.id as string;
    expect((await call(alice, 'GET', `/v1/testcases/${id}`)).body.item.name).toBe('ping');
    const replaced = await call(alice, 'PUT', `/v1/testcases/${id}`, { name: 'ping2', type: 'GENERIC', steps: [{ action: 'noop' }] });
    expect(replaced.body).toMatchObject({ version: 2, item: { name: 'ping2' } });
    const bad = await call(alice, 'POST', '/v1/testcases', { name: 'x', type: 'GENERIC', steps: [{ action: 'fly' }] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('VALIDATION_FAILED');
    expect((await call(alice, 'GET', '/v1/testcases')).body.items).toHaveLength(1);
    expect((await call(alice, 'DELETE', `/v1/testcases/${id}`)).status).toBe(200);
    expect((await call(alice, 'GET', `/v1/testcases/${id}`)).status).toBe(404);
  });

  it("another user's test cases and suites answer 404 like missing ids, and cannot be put in a suite", async () => {
    const tc = await call(alice, 'POST', '/v1/testcases', { name: 'mine', type: 'GENERIC', steps: [{ action: 'noop' }] });
    const suite = await call(alice, 'POST', '/v1/suites', { name: 'alice suite', testCaseIds: [tc.body.id] });
    expect(suite.status).toBe(201);
    const missing = await call(bob, 'GET', '/v1/testcases/tcs_01aaaaaaaaaaaaaaaaaaaaaaaa');
    for (const [method, path] of [['GET', `/v1/testcases/${tc.body.id}`], ['DELETE', `/v1/testcases/${tc.body.id}`], ['GET', `/v1/suites/${suite.body.id}`]]) {
      const res = await call(bob, method!, path!);
      expect(res.status).toBe(404);
      expect(Object.keys(res.body.error)).toEqual(Object.keys(missing.body.error));
    }
    expect((await call(bob, 'POST', '/v1/suites', { name: 'stolen', testCaseIds: [tc.body.id] })).status).toBe(400);
    expect((await call(bob, 'POST', '/v1/runs', { suiteId: suite.body.id })).status).toBe(404);
    expect((await call(bob, 'GET', '/v1/suites')).body.items).toHaveLength(0);
  });

  it('a run of a suite snapshots the definitions: editing a case later does not change what ran', async () => {
    const a = await call(alice, 'POST', '/v1/testcases', { name: 'first', type: 'GENERIC', steps: [{ action: 'noop' }] });
    const b = await call(alice, 'POST', '/v1/testcases', { name: 'second', type: 'GENERIC', steps: [{ action: 'sleep', ms: 5 }] });
    const suite = await call(alice, 'POST', '/v1/suites', { name: 'smoke', testCaseIds: [a.body.id, b.body.id] });
    const run = await call(alice, 'POST', '/v1/runs', { suiteId: suite.body.id });
    expect(run.status).toBe(201);
    await call(alice, 'PUT', `/v1/testcases/${a.body.id}`, { name: 'first, edited', type: 'GENERIC', steps: [{ action: 'sleep', ms: 1 }] });
    await waitFor(async () => (await call(alice, 'GET', `/v1/runs/${run.body.id}`)).body.status === 'PASSED', 'the run to pass');
    const executions = await Promise.all((run.body.executionIds as string[]).map(async (id) => (await call(alice, 'GET', `/v1/executions/${id}`)).body));
    expect(executions.map((e) => e.name)).toEqual(['first', 'second']);
    expect(executions[0]!.item.steps).toEqual([{ action: 'noop' }]);
    expect((await call(alice, 'POST', '/v1/runs', { suiteId: suite.body.id, items: [{ name: 'x', type: 'GENERIC', steps: [{ action: 'noop' }] }] })).status).toBe(400);
  });
});
