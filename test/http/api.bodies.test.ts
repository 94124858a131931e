import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { item } from '../helpers/engine.js';
import { expectError, rawRequest, startTestServer, type Body, type Client, type TestServer } from '../helpers/server.js';

/**
 * Request bodies (SPEC §5, §6): oversize → 413, wrong content type → 415, malformed JSON → 400 MALFORMED_JSON,
 * unknown fields → 400; every answer in the error shape and nothing stored.
 */

const LIMIT = 2048;
let s: TestServer;
let amy: Client;
let root: Client;

beforeAll(async () => {
  s = await startTestServer({ TROUPE_MAX_BODY_BYTES: String(LIMIT), EXECUTION_MAX_CONCURRENT_JOBS: '1000' }, { pool: false });
  amy = await s.client('amy');
  root = await s.client('root', ['admin']);
});
afterAll(async () => {
  await s[Symbol.asyncDispose]();
});

/** Everything stored, seen by an admin. */
async function stored(): Promise<{ executions: number; runs: number; keys: number }> {
  const [executions, runs, keys] = await Promise.all([root.get('/v1/executions?limit=1000'), root.get('/v1/runs?limit=1000'), root.get('/v1/keys')]);
  return { executions: executions.body.items.length, runs: runs.body.items.length, keys: keys.body.items.length };
}

const POSTS = ['/v1/executions', '/v1/runs', '/v1/keys'] as const;
const bodyFor = (path: string, padding: string): unknown =>
  path === '/v1/runs' ? { items: [item(padding)] } : path === '/v1/keys' ? { name: padding, role: 'viewer' } : item(padding);

describe('bodies above TROUPE_MAX_BODY_BYTES', () => {
  it.each(POSTS)('POST %s with a declared length above the limit → 413 PAYLOAD_TOO_LARGE, nothing stored', async (path) => {
    const before = await stored();
    const token = path === '/v1/keys' ? root.token : amy.token;
    const res = await s.request('POST', path, { token, body: bodyFor(path, 'x'.repeat(LIMIT)) });
    expectError(res, 413, 'PAYLOAD_TOO_LARGE');
    expect(await stored()).toEqual(before);
  });

  it('a chunked body (no content-length) that grows past the limit → 413, nothing stored', async () => {
    const before = await stored();
    const json = JSON.stringify(item('y'.repeat(LIMIT * 2)));
    const chunk = Buffer.from(json);
    const res = await rawRequest(
      s.port,
      Buffer.concat([
        Buffer.from(
          `POST /v1/executions HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\nauthorization: Bearer ${amy.token}\r\n` +
            `transfer-encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n`,
        ),
        chunk,
        Buffer.from('\r\n0\r\n\r\n'),
      ]),
    );
    expectError(res, 413, 'PAYLOAD_TOO_LARGE');
    expect(await stored()).toEqual(before);
  });

  it('a body just under the limit is read and judged on its content', async () => {
    const body = JSON.stringify(item('z'.repeat(400)));
    expect(Buffer.byteLength(body)).toBeLessThan(LIMIT);
    const res = await amy.post('/v1/executions', JSON.parse(body));
    expect(res.status, res.text).toBe(201);
  });

  it('the server keeps answering on new connections after refusing a large body', async () => {
    for (let i = 0; i < 5; i++) expectError(await amy.post('/v1/executions', item('w'.repeat(LIMIT))), 413, 'PAYLOAD_TOO_LARGE');
    expect((await s.request('GET', '/healthz')).status).toBe(200);
  });
});

describe('a 413 that every client can read', () => {
  // The default limit (4 MiB): a 5 MB body is what a first-day user sends by mistake.
  const FIVE_MB = 5 * 1000 * 1000;

  /**
   * Node's fetch in a process of its own, as a user's client is: in the server's own process the event loop
   * lets the client finish writing before the server answers, and a connection closed mid-body goes unseen.
   * `stream` sends the body without a content-length. Prints `{ status, body }` or `{ error }`.
   */
  function fetchInAnotherProcess(url: string, token: string, bytes: number, stream: boolean): Promise<{ status?: number; body?: Body; error?: string }> {
    const script = `
      const [url, token, bytes, stream] = process.argv.slice(1);
      const head = '{"name":"', tail = '","type":"GENERIC","steps":[{"action":"noop"}]}';
      const fill = 'x'.repeat(Number(bytes));
      const body = stream === 'true'
        ? new ReadableStream({ start(c) { const e = new TextEncoder(); c.enqueue(e.encode(head)); for (let i = 0; i < fill.length; i += 65536) c.enqueue(e.encode(fill.slice(i, i + 65536))); c.enqueue(e.encode(tail)); c.close(); } })
        : head + fill + tail;
      fetch(url, { method: 'POST', headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' }, body, duplex: 'half' })
        .then(async (res) => console.log(JSON.stringify({ status: res.status, body: await res.json() })))
        .catch((err) => console.log(JSON.stringify({ error: String(err.cause ?? err) })));
    `;
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', script, url, token, String(bytes), String(stream)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.on('error', reject);
      child.on('exit', () => resolve(JSON.parse(out) as { status?: number; body?: Body; error?: string }));
    });
  }

  it.each([
    ['with a content-length', false],
    ['streamed without a content-length', true],
  ])('fetch sending a 5 MB body %s receives the 413 and its error body (not EPIPE); nothing is stored', async (_how, stream) => {
    await using big = await startTestServer({}, { pool: false });
    const ann = await big.client('ann');
    for (let i = 0; i < 2; i++) {
      const res = await fetchInAnotherProcess(`${big.url}/v1/executions`, ann.token, FIVE_MB, stream);
      expect(res.error).toBeUndefined();
      expect(res.status).toBe(413);
      expect(res.body.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', message: expect.stringContaining(`limit`) });
    }
    expect((await ann.get('/v1/executions')).body.items).toEqual([]);
    expect((await ann.post('/v1/executions', item('small'))).status).toBe(201);
  });

  it('a declared length beyond what is worth reading is answered 413 at once and the connection closed', async () => {
    await using big = await startTestServer({}, { pool: false });
    const ann = await big.client('ann');
    // Head only: the server must not wait for 256 MiB that never come.
    const res = await rawRequest(
      big.port,
      `POST /v1/executions HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\nauthorization: Bearer ${ann.token}\r\n` +
        `content-length: ${256 * 1024 * 1024}\r\n\r\n{"name":`,
    );
    expectError(res, 413, 'PAYLOAD_TOO_LARGE');
    expect((await ann.get('/v1/executions')).body.items).toEqual([]);
  });
});

describe('content types', () => {
  it.each([
    ['text/plain', 'text/plain'],
    ['form', 'application/x-www-form-urlencoded'],
    ['multipart', 'multipart/form-data; boundary=x'],
    ['xml', 'application/xml'],
    ['json lookalike', 'application/jsonp'],
    ['problem+json', 'application/problem+json'],
    ['a JSON body with text/json', 'text/json'],
  ])('%s → 415 UNSUPPORTED_MEDIA_TYPE on every POST, nothing stored', async (_what, contentType) => {
    const before = await stored();
    for (const path of POSTS) {
      const token = path === '/v1/keys' ? root.token : amy.token;
      const res = await s.request('POST', path, { token, raw: JSON.stringify(bodyFor(path, 'ct')), headers: { 'content-type': contentType } });
      expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    }
    expect(await stored()).toEqual(before);
  });

  it('a body with no content type at all → 415', async () => {
    const res = await s.request('POST', '/v1/executions', { token: amy.token, raw: new TextEncoder().encode(JSON.stringify(item('n'))) });
    expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it.each(['application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/json;charset=UTF-8'])(
    '%s is accepted',
    async (contentType) => {
      const res = await s.request('POST', '/v1/executions', { token: amy.token, raw: JSON.stringify(item('ok')), headers: { 'content-type': contentType } });
      expect(res.status, res.text).toBe(201);
    },
  );
});

describe('malformed JSON', () => {
  it.each(['{', '{"name": }', "{'name': 'x'}", '[1,2', 'nul', '{"a":1}}', '\u0000', '{"name":"x",}', 'NaN', '01'])(
    '%j → 400 MALFORMED_JSON on every POST, nothing stored',
    async (raw) => {
      const before = await stored();
      for (const path of [...POSTS, '/v1/executions/exe_00000000000000000000000000/cancel']) {
        const token = path === '/v1/keys' ? root.token : amy.token;
        const res = await s.request('POST', path, { token, raw, headers: { 'content-type': 'application/json' } });
        expectError(res, 400, 'MALFORMED_JSON');
      }
      expect(await stored()).toEqual(before);
    },
  );

  it('invalid UTF-8 inside a JSON string is not a 5xx', async () => {
    const raw = Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('","type":"GENERIC"}')]);
    const res = await s.request('POST', '/v1/executions', { token: amy.token, raw, headers: { 'content-type': 'application/json' } });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expectError(res, res.status);
  });
});

describe('unknown fields', () => {
  it.each([
    ['/v1/executions', { ...item('u'), unknown: true }],
    ['/v1/executions', { ...item('u'), retry: { maxAttempts: 2, forever: true } }],
    ['/v1/runs', { items: [item('u')], extra: 1 }],
    ['/v1/runs', { items: [{ ...item('u'), extra: 1 }] }],
    ['/v1/keys', { name: 'k', role: 'viewer', scopes: ['all'] }],
  ])('POST %s with %j → 400 VALIDATION_FAILED, nothing stored', async (path, body) => {
    const before = await stored();
    const res = path === '/v1/keys' ? await root.post(path, body) : await amy.post(path, body);
    expectError(res, 400, 'VALIDATION_FAILED');
    expect(await stored()).toEqual(before);
  });
});

describe('deeply nested JSON', () => {
  it('nesting too deep for the server is refused with a 4xx, in free-form fields too; nothing stored', async () => {
    await using big = await startTestServer({ EXECUTION_MAX_CONCURRENT_JOBS: '1000' }, { pool: false });
    const cid = await big.client('cid');
    const deep = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
    for (const depth of [10_000, 100_000]) {
      // A free-form field (an http step's body) is not checked by the item schema.
      const definition = `{"name":"deep","type":"GENERIC","steps":[{"action":"http","request":{"method":"POST","url":"http://127.0.0.1:9/","body":${deep(depth)}}}]}`;
      for (const [path, raw] of [
        ['/v1/executions', definition],
        ['/v1/runs', `{"items":[${definition}]}`],
        ['/v1/runs', `{"idempotencyKey":"k${depth}","items":[${definition}]}`],
        ['/v1/executions', deep(depth)],
      ] as const) {
        const res = await big.request('POST', path, { token: cid.token, raw, headers: { 'content-type': 'application/json' } });
        expect(res.status, `${path} depth ${depth}: ${res.text.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
        expect(res.status, `${path} depth ${depth}: ${res.text.slice(0, 200)}`).toBeLessThan(500);
        expectError(res, res.status);
      }
    }
    expect((await cid.get('/v1/executions')).body.items).toEqual([]);
    expect(big.logs.filter((l) => l.msg === 'request failed')).toEqual([]);
  });
});
