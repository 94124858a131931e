import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { githubSignature } from '../../src/core/webhook-signatures.js';
import { item, waitFor } from '../helpers/engine.js';
import { GITHUB_SECRET, GITLAB_TOKEN, HOOK_ENV } from '../helpers/hooks.js';
import {
  expectError,
  missingId,
  rawRequest,
  startTestServer,
  waitForStatus,
  type ApiResponse,
  type Client,
  type TestServer,
} from '../helpers/server.js';

/**
 * Bad input never gets a 5xx (SPEC §5, §6): thousands of malformed bodies, query strings and header variations
 * against every endpoint. Each answer is a 4xx in the error shape (or, for reads, a 200), nothing is stored,
 * and the server still answers /healthz afterwards. Generators only ever build invalid bodies, so a 2xx to a
 * write is a failure too.
 */

const LIMIT = 64 * 1024;
const BATCH = 4;
let s: TestServer;
let runner: Client;
let admin: Client;
let garbageTokens: string[];
let running: string;
let cancelled: string;
let cancelledRun: string;
let testCase: string;
let suite: string;
let baseline: Awaited<ReturnType<typeof snapshot>>;
let sent = 0;

async function snapshot() {
  const [executions, runs, keys, testcases, suites] = await Promise.all(
    ['/v1/executions?limit=1000', '/v1/runs?limit=1000', '/v1/keys', '/v1/testcases?limit=1000', '/v1/suites?limit=1000'].map((path) => admin.get(path)),
  );
  const ids = (res: ApiResponse | undefined) =>
    (res!.body.items as { id: string; status?: string; version?: number }[]).map((x) => `${x.id}:${x.status ?? ''}:${x.version ?? ''}`).sort();
  return { executions: ids(executions), runs: ids(runs), keys: ids(keys), testcases: ids(testcases), suites: ids(suites) };
}

beforeAll(async () => {
  s = await startTestServer({ TROUPE_MAX_BODY_BYTES: String(LIMIT), EXECUTION_MAX_CONCURRENT_JOBS: '1000', ...HOOK_ENV }, { pool: false });
  runner = await s.client('fuzz', ['runner']);
  admin = await s.client('root', ['admin']);
  running = (await runner.post('/v1/executions', item('running'))).body.id as string;
  cancelled = (await runner.post('/v1/executions', item('cancelled'))).body.id as string;
  cancelledRun = (await runner.post('/v1/runs', { items: [item('in run')] })).body.id as string;
  await waitForStatus(runner, running, 'RUNNING');
  await waitForStatus(runner, cancelled, 'RUNNING');
  expect((await runner.post(`/v1/executions/${cancelled}/cancel`)).status).toBe(200);
  expect((await runner.post(`/v1/runs/${cancelledRun}/cancel`)).status).toBe(202);
  await waitFor(async () => (await runner.get(`/v1/runs/${cancelledRun}`)).body.status === 'CANCELLED', 'the fixture run to be cancelled');
  testCase = (await runner.post('/v1/testcases', item('stored case'))).body.id as string;
  suite = (await runner.post('/v1/suites', { name: 'stored suite', testCaseIds: [testCase] })).body.id as string;
  expect(testCase).toEqual(expect.any(String));
  expect(suite).toEqual(expect.any(String));
  const valid = runner.token;
  const [header, payload] = valid.split('.') as [string, string];
  garbageTokens = [
    'garbage',
    `${header}.${payload}.`,
    `${header}.${payload}.AAAA`,
    `${valid}x`,
    'troupe_not-a-key',
    'a.b.c',
    `${header}.e30.${valid.split('.')[2]!}`,
  ];
  baseline = await snapshot();
});

afterAll(async () => {
  await s[Symbol.asyncDispose]();
});

// ---------- generators ----------

const printable = (max = 60) => fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: max });
const notString = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }), fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }));
const notInteger = fc.oneof(fc.string(), fc.double().filter((d) => !Number.isInteger(d)), fc.integer({ max: 0 }), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 2 }));
const notIn = (values: readonly string[]) => fc.oneof(fc.string().filter((v) => !values.includes(v)), notString);
const huge = fc.integer({ min: 501, max: 100_000 }).chain((n) => fc.constantFrom('x', 'é', '"', '\\', '\u0000', '𝄞').map((c) => c.repeat(n)));
const unknownKey = printable(20).map((k) => `x_${k}`);

/** Nested arrays and objects, deeper than the default JSON arbitraries go. */
const nested: fc.Arbitrary<unknown> = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.jsonValue({ maxDepth: 0 }),
    fc.array(tie('node'), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 5 }), tie('node'), { maxKeys: 3 }),
  ),
})).node;
const deepRaw = fc.tuple(fc.integer({ min: 100, max: 5000 }), fc.constantFrom('[', '{"a":')).map(([n, open]) =>
  open === '[' ? `${'['.repeat(n)}${']'.repeat(n)}` : `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`,
);

const validItem = () => ({ name: 'ok', type: 'GENERIC', steps: [{ action: 'noop' }] }) as Record<string, unknown>;

/** A test item broken in one or more ways; never valid. */
const badItem: fc.Arbitrary<unknown> = fc
  .array(
    fc.oneof(
      fc.tuple(fc.constant('name'), fc.oneof(notString, fc.constant(''), huge)),
      fc.tuple(fc.constant('type'), notIn(['GENERIC', 'BDD', 'MANUAL'])),
      fc.tuple(fc.constant('steps'), fc.oneof(notString.filter((v) => !Array.isArray(v)), fc.constant([]), fc.array(fc.dictionary(unknownKey, fc.jsonValue({ maxDepth: 2 }), { minKeys: 1, maxKeys: 3 }), { minLength: 1, maxLength: 3 }))),
      fc.tuple(fc.constant('timeoutMs'), notInteger),
      fc.tuple(fc.constant('priority'), notIn(['CRITICAL', 'HIGH', 'NORMAL', 'LOW', 'DEFERRED'])),
      // null is left out: POST /v1/executions takes `"context": null` as absent (api.executions.test.ts pins that).
      fc.tuple(fc.constant('context'), notIn(['MANUAL', 'SCHEDULED', 'CI_CD', 'API', 'BULK']).filter((v) => v !== null)),
      fc.tuple(fc.constant('scheduledAt'), fc.oneof(notString, fc.string().filter((v) => Number.isNaN(Date.parse(v))))),
      fc.tuple(fc.constant('retry'), fc.oneof(notString.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)), fc.record({ maxAttempts: notInteger }), fc.dictionary(unknownKey, fc.jsonValue({ maxDepth: 1 }), { minKeys: 1, maxKeys: 2 }))),
      fc.tuple(fc.constant('labels'), fc.oneof(fc.dictionary(fc.string(), notString, { minKeys: 1, maxKeys: 3 }), fc.constantFrom(1, true, 'x', [1]))),
      fc.tuple(unknownKey, fc.oneof(fc.jsonValue({ maxDepth: 2 }), huge)),
      fc.tuple(fc.constantFrom('name', 'type', 'steps'), fc.constant(undefined)),
    ),
    { minLength: 1, maxLength: 3 },
  )
  .map((changes) => {
    const body = validItem();
    for (const [key, value] of changes) {
      if (value === undefined) delete body[key];
      else body[key] = value;
    }
    return body;
  });

const badRun: fc.Arbitrary<unknown> = fc.oneof(
  badItem.map((bad) => ({ items: [validItem(), bad] })),
  fc.record({ items: fc.oneof(fc.constant([]), notString.filter((v) => !Array.isArray(v))) }),
  fc.tuple(
    fc.constantFrom('name', 'context', 'priority', 'labels', 'failFast', 'maxParallel', 'idempotencyKey', 'suiteId'),
    fc.oneof(fc.constant(''), fc.integer({ max: 0 }), fc.array(fc.integer(), { minLength: 1, maxLength: 2 }), fc.dictionary(unknownKey, fc.integer(), { minKeys: 1, maxKeys: 1 })),
  ).map(([key, value]) => ({ items: [validItem()], [key]: key === 'failFast' ? JSON.stringify(value) : value })),
  fc.tuple(unknownKey, fc.jsonValue({ maxDepth: 2 })).map(([key, value]) => ({ items: [validItem()], [key]: value })),
  fc.constant({}),
  fc.constant({ suiteId: 'suite_1' }),
);

const badKey: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({ name: fc.oneof(notString, fc.constant(''), huge), role: fc.constantFrom('viewer', 'runner', 'admin') }),
  fc.record({ name: fc.constant('k'), role: notIn(['viewer', 'runner', 'admin']) }),
  fc.record({ name: fc.constant('k'), role: fc.constant('viewer'), owner: fc.oneof(notString, fc.constant(''), fc.string({ minLength: 1 }).filter((o) => !/^[\w.:@-]+$/.test(o))) }),
  fc.tuple(unknownKey, fc.jsonValue({ maxDepth: 1 })).map(([key, value]) => ({ name: 'k', role: 'viewer', [key]: value })),
  fc.record({ role: fc.constant('viewer') }),
);

const badSuite: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({ name: fc.oneof(notString, fc.constant(''), huge), testCaseIds: fc.constant(['tcs_x']) }),
  fc.record({ name: fc.constant('s'), testCaseIds: fc.oneof(notString.filter((v) => !Array.isArray(v)), fc.constant([]), fc.array(notString, { minLength: 1, maxLength: 3 })) }),
  fc.record({ name: fc.constant('s'), testCaseIds: fc.array(fc.string({ minLength: 1, maxLength: 30 }), { minLength: 1, maxLength: 3 }) }),
  fc.tuple(unknownKey, fc.jsonValue({ maxDepth: 1 })).map(([key, value]) => ({ name: 's', testCaseIds: ['tcs_x'], [key]: value })),
);

const badCommand: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({ reason: fc.oneof(notString, fc.string({ minLength: 1001, maxLength: 3000 })) }),
  fc.tuple(unknownKey, fc.jsonValue({ maxDepth: 2 })).map(([key, value]) => ({ reason: 'r', [key]: value })),
  notString.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v) || Object.keys(v).length > 0).filter((v) => v !== null),
  fc.string(),
);

/** Any JSON value or junk, as the raw text of a body; mostly not a valid body for anything. */
const junk = (valid: fc.Arbitrary<unknown>): fc.Arbitrary<{ raw: string | Uint8Array; json: boolean }> =>
  fc.oneof(
    { weight: 5, arbitrary: valid.map((v) => ({ raw: JSON.stringify(v), json: true })) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).filter((v) => v !== null && typeof v !== 'object').map((v) => ({ raw: JSON.stringify(v), json: true })) },
    { weight: 2, arbitrary: fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 4 }).map((v) => ({ raw: JSON.stringify(v), json: true })) },
    { weight: 2, arbitrary: fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }).map((v) => ({ raw: JSON.stringify({ ...v, x_extra: 1 }), json: true })) },
    { weight: 1, arbitrary: nested.map((v) => ({ raw: JSON.stringify(v), json: true })) },
    { weight: 1, arbitrary: deepRaw.map((raw) => ({ raw, json: true })) },
    { weight: 2, arbitrary: fc.string({ minLength: 1, maxLength: 200 }).map((raw) => ({ raw, json: false })) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 300 }).map((raw) => ({ raw, json: false })) },
    { weight: 1, arbitrary: huge.map((h) => ({ raw: JSON.stringify({ ...validItem(), name: h }), json: true })) },
  );

const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constant('application/json') },
  { weight: 3, arbitrary: fc.constantFrom('application/json; charset=utf-8', 'APPLICATION/JSON', 'text/plain', 'application/x-www-form-urlencoded', 'application/jsonx', 'multipart/form-data', 'application/json;;;', ';', '*/*', ' ') },
  { weight: 1, arbitrary: printable(40) },
);

type AuthKind = 'valid' | 'garbage';
const authorization = (token: () => string): fc.Arbitrary<{ header: string | null; kind: AuthKind }> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constant(null).map(() => ({ header: `Bearer ${token()}`, kind: 'valid' as const })) },
    { weight: 1, arbitrary: fc.constant({ header: null, kind: 'garbage' as const }) },
    { weight: 1, arbitrary: fc.nat({ max: 6 }).map((i) => ({ header: `Bearer ${garbageTokens[i]!}`, kind: 'garbage' as const })) },
    { weight: 1, arbitrary: printable(80).filter((h) => !/^\s*bearer\s/i.test(h)).map((h) => ({ header: h, kind: 'garbage' as const })) },
    { weight: 1, arbitrary: printable(80).filter((h) => h.trim() !== '' && !h.trim().startsWith('troupe_')).map((h) => ({ header: `Bearer ${h}`, kind: 'garbage' as const })) },
  );

/** Names every plain object answers to: a lookup table keyed by user input must not trip over them. */
const PROTO_NAMES = ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', '__defineGetter__'];
const queryKey = (known: readonly string[]) =>
  fc.oneof(fc.constantFrom(...(known.length ? known : ['limit'])), unknownKey, fc.string({ maxLength: 10 }), fc.constantFrom(...PROTO_NAMES));
const queryValue = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.integer({ min: -5, max: 2000 }).map(String),
  fc.constantFrom('PASSED', 'RUNNING', 'HIGH', 'CI_CD', '2024-01-01T00:00:00Z', '2024-01-01', 'exe_x', '', '%', '1e3'),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
);
const query = (known: readonly string[]) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.array(fc.tuple(queryKey(known), queryValue), { maxLength: 4 }).map((pairs) => new URLSearchParams(pairs).toString()) },
    { weight: 1, arbitrary: printable(60).map((q) => q.replaceAll('#', '%23')) },
  );

/** Whether `id` is the fixture of the kind `path` serves. */
function ownKind(path: string, id: string): boolean {
  if (path.startsWith('/v1/executions/')) return id === running;
  if (path.startsWith('/v1/runs/')) return id === cancelledRun;
  if (path.startsWith('/v1/testcases/')) return id === testCase;
  return id === suite;
}

/** Path and query as fetch will send them (the URL parser trims and escapes). */
function target(path: string, q: string): { path: string; search: string } {
  const url = new URL(`${path}${q ? `?${q}` : ''}`, 'http://fuzz');
  return { path: `${url.pathname}${url.search}`, search: url.search.slice(1) };
}

/** Whether the query certainly holds a parameter the endpoint does not accept. */
function hasUnknown(q: string, known: readonly string[]): boolean {
  return [...new URLSearchParams(q).keys()].some((k) => !known.includes(k));
}

// ---------- checks ----------

interface Case {
  method: string;
  path: string;
  raw?: string | Uint8Array;
  headers: Record<string, string>;
}

async function send(c: Case): Promise<ApiResponse> {
  sent++;
  return s.request(c.method, c.path, { headers: c.headers, ...(c.raw === undefined ? {} : { raw: c.raw }) });
}

/** Never 5xx; errors in the error shape; writes never succeed. */
function checkWrite(c: Case, res: ApiResponse): void {
  const what = `${c.method} ${c.path} ${JSON.stringify(c.headers).slice(0, 200)} ${typeof c.raw === 'string' ? c.raw.slice(0, 200) : `<${c.raw?.length ?? 0} bytes>`} → ${res.text.slice(0, 300)}`;
  expect(res.status, what).toBeGreaterThanOrEqual(400);
  expect(res.status, what).toBeLessThan(500);
  expectError(res, res.status);
}

function checkRead(c: Case, res: ApiResponse, mustFail: boolean): void {
  const what = `${c.method} ${c.path} ${JSON.stringify(c.headers).slice(0, 200)} → ${res.text.slice(0, 300)}`;
  expect(res.status, what).toBeLessThan(500);
  if (mustFail) expect(res.status, what).toBeGreaterThanOrEqual(400);
  if (res.status >= 400) expectError(res, res.status);
  else expect(res.status, what).toBe(200);
}

function headersOf(auth: { header: string | null }, type?: string): Record<string, string> {
  return { ...(auth.header === null ? {} : { authorization: auth.header }), ...(type === undefined ? {} : { 'content-type': type }) };
}

/** A property over batches of `BATCH` write cases sent concurrently. */
function writes(numRuns: number, one: fc.Arbitrary<Case>) {
  return fc.assert(
    fc.asyncProperty(fc.array(one, { minLength: BATCH, maxLength: BATCH }), async (cases) => {
      const answers = await Promise.all(cases.map(send));
      cases.forEach((c, i) => checkWrite(c, answers[i]!));
    }),
    { numRuns },
  );
}

function reads(numRuns: number, one: fc.Arbitrary<{ c: Case; mustFail: boolean }>) {
  return fc.assert(
    fc.asyncProperty(fc.array(one, { minLength: BATCH, maxLength: BATCH }), async (cases) => {
      const answers = await Promise.all(cases.map(({ c }) => send(c)));
      cases.forEach(({ c, mustFail }, i) => checkRead(c, answers[i]!, mustFail));
    }),
    { numRuns },
  );
}

const runnerAuth = authorization(() => runner.token);
const adminAuth = authorization(() => admin.token);

// ---------- properties ----------

describe('fuzzing every endpoint with bad input', () => {
  it('POST /v1/executions', async () => {
    const q = fc.oneof({ weight: 9, arbitrary: fc.constant('') }, { weight: 1, arbitrary: query([]) });
    await writes(600, fc.tuple(junk(badItem), contentType, runnerAuth, q).map(([body, type, auth, search]) => ({
      method: 'POST',
      path: `/v1/executions${search ? `?${search}` : ''}`,
      raw: body.raw,
      headers: headersOf(auth, type),
    })));
  });

  it('POST /v1/runs', async () => {
    await writes(500, fc.tuple(junk(badRun), contentType, runnerAuth).map(([body, type, auth]) => ({
      method: 'POST',
      path: '/v1/runs',
      raw: body.raw,
      headers: headersOf(auth, type),
    })));
  });

  it('POST /v1/executions/:id/{cancel,pause,resume,abort,retry} and /v1/runs/:id/cancel', async () => {
    // Targets where even a valid command cannot succeed: finished (409), missing (404), or abort as a runner (403).
    const target = fc.oneof(
      fc.tuple(fc.constantFrom('cancel', 'pause', 'resume', 'abort'), fc.constantFrom(() => cancelled, () => missingId())),
      fc.tuple(fc.constant('retry'), fc.constantFrom(() => running, () => missingId())),
      fc.tuple(fc.constant('abort'), fc.constant(() => running)),
      fc.tuple(
        fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constantFrom(...PROTO_NAMES))
          .filter((c) => !['cancel', 'pause', 'resume', 'abort', 'retry'].includes(c))
          .map(encodeURIComponent),
        fc.constant(() => running),
      ),
    ).map(([command, id]) => `/v1/executions/${id()}/${command}`);
    const runTarget = fc.constantFrom(() => cancelledRun, () => missingId('run')).map((id) => `/v1/runs/${id()}/cancel`);
    await writes(500, fc.tuple(fc.oneof(target, runTarget), junk(badCommand), contentType, runnerAuth).map(([path, body, type, auth]) => ({
      method: 'POST',
      path,
      raw: body.raw,
      headers: headersOf(auth, type),
    })));
  });

  it('POST /v1/keys and DELETE /v1/keys/:id', async () => {
    const post = fc.tuple(junk(badKey), contentType, adminAuth).map(([body, type, auth]): Case => ({
      method: 'POST',
      path: '/v1/keys',
      raw: body.raw,
      headers: headersOf(auth, type),
    }));
    const del = fc.tuple(fc.oneof(fc.string({ minLength: 1, maxLength: 40 }).map(encodeURIComponent), fc.constant(null).map(() => missingId('key'))), adminAuth).map(
      ([id, auth]): Case => ({ method: 'DELETE', path: `/v1/keys/${id}`, headers: headersOf(auth) }),
    );
    await writes(300, fc.oneof({ weight: 3, arbitrary: post }, { weight: 1, arbitrary: del }));
  });

  it('POST/PUT/DELETE /v1/testcases and /v1/suites', async () => {
    const anyId = fc.oneof(fc.string({ minLength: 1, maxLength: 40 }).map(encodeURIComponent), fc.constantFrom('tcs_01m8b6pce81mx6jxp759p3j08e', 'sui_01m8b6pce81mx6jxp759p3j08e'));
    const body = (valid: fc.Arbitrary<unknown>) => fc.tuple(junk(valid), contentType, runnerAuth);
    const cases: fc.Arbitrary<Case> = fc.oneof(
      body(badItem).map(([b, type, auth]) => ({ method: 'POST', path: '/v1/testcases', raw: b.raw, headers: headersOf(auth, type) })),
      body(badItem).map(([b, type, auth]) => ({ method: 'PUT', path: `/v1/testcases/${testCase}`, raw: b.raw, headers: headersOf(auth, type) })),
      fc.tuple(anyId, body(badItem)).map(([id, [b, type, auth]]) => ({ method: 'PUT', path: `/v1/testcases/${id}`, raw: b.raw, headers: headersOf(auth, type) })),
      body(badSuite).map(([b, type, auth]) => ({ method: 'POST', path: '/v1/suites', raw: b.raw, headers: headersOf(auth, type) })),
      body(badSuite).map(([b, type, auth]) => ({ method: 'PUT', path: `/v1/suites/${suite}`, raw: b.raw, headers: headersOf(auth, type) })),
      fc.tuple(fc.constantFrom('testcases', 'suites'), anyId, runnerAuth).map(([kind, id, auth]) => ({ method: 'DELETE', path: `/v1/${kind}/${id}`, headers: headersOf(auth) })),
    );
    await writes(300, cases);
  });

  it('POST /v1/triggers, DELETE /v1/triggers/:id, and webhooks with forged signatures or tokens', async () => {
    const trigger = fc.tuple(junk(fc.jsonValue({ maxDepth: 3 })), contentType, runnerAuth).map(([b, type, auth]): Case => ({
      method: 'POST',
      path: '/v1/triggers',
      raw: b.raw,
      headers: headersOf(auth, type),
    }));
    const del = fc.tuple(fc.string({ minLength: 1, maxLength: 40 }).map(encodeURIComponent), runnerAuth).map(([id, auth]): Case => ({ method: 'DELETE', path: `/v1/triggers/${id}`, headers: headersOf(auth) }));
    const hookHeaders = fc.dictionary(fc.constantFrom('x-github-event', 'x-github-delivery', 'x-gitlab-event', 'x-gitlab-event-uuid'), printable(40), { maxKeys: 4 });
    const forgedGithub = fc.tuple(junk(fc.jsonValue({ maxDepth: 3 })), hookHeaders, fc.option(fc.oneof(printable(80), fc.stringMatching(/^[0-9a-f]{64}$/).map((h) => `sha256=${h}`), fc.string().map((body) => githubSignature('not the secret', body)))))
      .map(([b, headers, signature]): Case => ({
        method: 'POST',
        path: '/v1/hooks/github',
        raw: b.raw,
        headers: { 'content-type': 'application/json', ...headers, ...(signature === null ? {} : { 'x-hub-signature-256': signature }) },
      }));
    const forgedGitlab = fc.tuple(junk(fc.jsonValue({ maxDepth: 3 })), hookHeaders, fc.option(printable(60).filter((t) => t !== GITLAB_TOKEN)))
      .map(([b, headers, token]): Case => ({
        method: 'POST',
        path: '/v1/hooks/gitlab',
        raw: b.raw,
        headers: { 'content-type': 'application/json', ...headers, ...(token === null ? {} : { 'x-gitlab-token': token }) },
      }));
    await writes(300, fc.oneof(trigger, del, forgedGithub, forgedGitlab));
  });

  it('webhooks with a valid signature over junk: a 4xx, or a 202 that starts nothing', async () => {
    const hookHeaders = fc.record({ 'x-github-event': fc.oneof(fc.constantFrom('push', 'pull_request', 'ping'), printable(20)), 'x-github-delivery': printable(40) }, { requiredKeys: [] });
    await fc.assert(
      fc.asyncProperty(junk(fc.jsonValue({ maxDepth: 3 })), hookHeaders, contentType, async (b, headers, type) => {
        const raw = typeof b.raw === 'string' ? b.raw : Buffer.from(b.raw);
        const res = await send({ method: 'POST', path: '/v1/hooks/github', raw: b.raw, headers: { ...headers, 'content-type': type, 'x-hub-signature-256': githubSignature(GITHUB_SECRET, raw) } });
        const what = `${JSON.stringify(headers)} ${raw.toString().slice(0, 200)} → ${res.text.slice(0, 300)}`;
        expect(res.status, what).toBeLessThan(500);
        if (res.status === 202) expect(res.body.runs, what).toEqual([]);
        else expectError(res, res.status);
      }),
      { numRuns: 200 },
    );
  });

  it('list endpoints with random query strings and credentials', async () => {
    const lists: [string, readonly string[]][] = [
      ['/v1/executions', ['limit', 'cursor', 'createdAfter', 'createdBefore', 'status', 'priority', 'context', 'runId', 'owner']],
      ['/v1/runs', ['limit', 'cursor', 'createdAfter', 'createdBefore', 'status', 'owner']],
      [`/v1/runs/RUN/executions`, ['limit', 'cursor', 'createdAfter', 'createdBefore', 'status']],
      ['/v1/audit', ['limit']],
      ['/v1/keys', []],
      ['/v1/testcases', ['limit', 'cursor']],
      ['/v1/suites', ['limit', 'cursor']],
    ];
    await reads(
      500,
      fc.constantFrom(...lists).chain(([path, known]) =>
        fc.tuple(query(known), fc.oneof(runnerAuth, adminAuth)).map(([q, auth]) => {
          const url = target(path.replace('RUN', cancelledRun), q);
          return { c: { method: 'GET', path: url.path, headers: headersOf(auth) }, mustFail: auth.kind === 'garbage' || hasUnknown(url.search, known) };
        }),
      ),
    );
  });

  it('single resources with random ids, query strings and credentials', async () => {
    const id = fc.oneof(
      fc.constant(null).map(() => running),
      fc.constant(null).map(() => cancelledRun),
      fc.constant(null).map(() => testCase),
      fc.constant(null).map(() => suite),
      fc.constant(null).map(() => missingId()),
      fc.string({ minLength: 1, maxLength: 60 }).map(encodeURIComponent),
    );
    const suffix = fc.constantFrom('/v1/executions/ID', '/v1/executions/ID/steps', '/v1/executions/ID/events', '/v1/runs/ID', '/v1/testcases/ID', '/v1/suites/ID');
    await reads(
      300,
      fc.tuple(suffix, id, fc.oneof(fc.constant(''), query([])), runnerAuth).map(([path, i, q, auth]) => {
        const url = target(path.replace('ID', i), q);
        // The events are a list: a limit and a cursor are theirs to take.
        const known = path.endsWith('/events') ? ['limit', 'cursor'] : [];
        return {
          c: { method: 'GET', path: url.path, headers: headersOf(auth) },
          // Found only under its own kind of path (an execution id under /v1/runs/ is a 404).
          mustFail: auth.kind === 'garbage' || hasUnknown(url.search, known) || !ownKind(path, i),
        };
      }),
    );
  });

  it('raw requests with odd but well-formed headers', async () => {
    const headerName = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/).filter((h) => !['content-length', 'transfer-encoding', 'host', 'connection', 'expect', 'upgrade'].includes(h));
    const headerValue = printable(200);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/v1/executions', '/v1/runs', `/v1/executions/ID/cancel`, '/v1/keys'),
        fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 }),
        junk(badItem),
        runnerAuth,
        async (path, extra, body, auth) => {
          const bytes = typeof body.raw === 'string' ? Buffer.from(body.raw) : Buffer.from(body.raw);
          const head = [
            `POST ${path.replace('ID', cancelled)} HTTP/1.1`,
            'host: fuzz',
            ...(auth.header === null ? [] : [`authorization: ${auth.header}`]),
            ...extra.map(([k, v]) => `${k}: ${v}`),
            `content-length: ${bytes.length}`,
            'connection: close',
          ];
          sent++;
          const res = await rawRequest(s.port, Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), bytes]));
          expect(res.status, `${head.join(' | ').slice(0, 300)} → ${res.body.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
          expect(res.status).toBeLessThan(500);
          expectError(res, res.status);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('afterwards: thousands of requests answered, nothing stored, no 5xx logged, /healthz still answers', async () => {
    expect(sent).toBeGreaterThanOrEqual(10_000);
    expect(await snapshot()).toEqual(baseline);
    expect(s.logs.filter((l) => l.msg === 'request failed')).toEqual([]);
    const health = await s.request('GET', '/healthz');
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok' });
    // The fixture execution went through all of that and is still under control.
    expect((await runner.get(`/v1/executions/${running}`)).body.status).toBe('RUNNING');
    expect((await runner.post(`/v1/executions/${running}/pause`)).status).toBe(200);
    expect((await runner.post(`/v1/executions/${running}/resume`)).status).toBe(200);
  });
});
