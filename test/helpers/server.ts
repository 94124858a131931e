import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { SignJWT } from 'jose';
import { expect } from 'vitest';
import { loadConfig, type Config } from '../../src/core/config.js';
import { ERROR_CODES, type ErrorCode } from '../../src/core/errors.js';
import { newId } from '../../src/core/ids.js';
import { createLogger } from '../../src/core/log.js';
import type { Engine, EngineOverrides } from '../../src/engine/create-engine.js';
import { startServer, type Server, type ServerOptions } from '../../src/http/server.js';
import type { Role } from '../../src/store/store.port.js';
import { startEngine, type TestEngine } from './engine.js';
import { waitFor } from './wait.js';

export type { Role };

/**
 * A parsed answer body as tests read it. Deliberately loose: each test asserts the fields it relies on, and
 * error-path tests read bodies that are not the endpoint's success shape. Narrow with the wire types below.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Body = any;

/** A parsed answer: `body` is the JSON value when the body parses, else the raw text. */
export interface ApiResponse<T = Body> {
  status: number;
  headers: Headers;
  text: string;
  body: T;
}

/** Wire shapes (SPEC §7), as far as these tests read them. */
export interface Execution {
  id: string;
  runId: string | null;
  name: string;
  type: string;
  status: string;
  priority: string;
  context: string;
  attempt: number;
  owner: string;
  rerunOf: string | null;
  createdAt: string;
  updatedAt: string;
  scheduledAt: string | null;
}
export interface TransitionView {
  seq: number;
  from: string | null;
  to: string;
  event: string;
  at: string;
  attempt: number;
  reason: string | null;
  actor: string;
}
export interface StepView {
  index: number;
  name: string;
  status: string;
  durationMs: number;
}
export interface RunView {
  id: string;
  name: string;
  status: string;
  total: number;
  counts: Record<string, number>;
  owner: string;
  createdAt: string;
}
export interface SubmittedRun {
  id: string;
  status: string;
  executionIds: string[];
}
export interface AuditView {
  at: string;
  principal: string;
  action: string;
  target: string;
  source: string;
  details?: unknown;
}
export interface KeyView {
  id: string;
  name: string;
  role: string;
  owner: string;
  createdAt: string;
  revokedAt: string | null;
}
export interface Page<T> {
  items: T[];
  next: string | null;
}

export interface RequestOptions {
  /** Sent as `Authorization: Bearer <token>`; omit (or null) for no Authorization header. */
  token?: string | null;
  /** Serialised as JSON with `content-type: application/json`. */
  body?: unknown;
  /** Sent as is (no content type unless given in `headers`); wins over `body`. */
  raw?: string | Uint8Array;
  headers?: Record<string, string>;
}

/** A principal with a token, for terse requests. */
export interface Client {
  readonly sub: string;
  readonly roles: readonly Role[];
  readonly token: string;
  get<T = Body>(path: string, options?: Omit<RequestOptions, 'token'>): Promise<ApiResponse<T>>;
  post<T = Body>(path: string, body?: unknown, options?: Omit<RequestOptions, 'token' | 'body'>): Promise<ApiResponse<T>>;
  del<T = Body>(path: string, options?: Omit<RequestOptions, 'token'>): Promise<ApiResponse<T>>;
}

export interface TokenClaims {
  /** Overrides `aud`; null leaves it out. */
  aud?: string | null;
  /** Expiry as epoch seconds; null leaves it out. Default: ten minutes from now. */
  exp?: number | null;
  nbf?: number;
  /** Any other claims (e.g. `roles` with odd values). */
  extra?: Record<string, unknown>;
}

export interface TestServer extends AsyncDisposable {
  readonly t: TestEngine;
  readonly engine: Engine;
  readonly server: Server;
  readonly config: Config;
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `ws://127.0.0.1:<port>` */
  readonly wsUrl: string;
  /** The HS256 secret the server accepts ('' when none is configured). */
  readonly secret: string;
  readonly audience: string;
  /** Warnings and errors the server logged, parsed. Disposing throws if any request was answered 5xx. */
  readonly logs: Record<string, unknown>[];
  /** An HS256 JWT for `sub` with `roles`, valid for ten minutes, for this server's audience. */
  token(sub: string, roles?: readonly Role[], claims?: TokenClaims): Promise<string>;
  request<T = Body>(method: string, path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
  /** A client for `sub` with `roles` (a fresh HS256 token). */
  client(sub: string, roles?: readonly Role[]): Promise<Client>;
  /** A client for a bare token (an API key or a JWT minted elsewhere). */
  clientFor(token: string, sub?: string, roles?: readonly Role[]): Client;
}

export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Signs an HS256 JWT with `key`. */
export async function signHs256(
  key: string | Uint8Array,
  sub: string | null,
  roles: readonly Role[] | null,
  audience: string,
  claims: TokenClaims = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = { ...(roles === null ? {} : { roles }), ...claims.extra };
  if (sub !== null) payload.sub = sub;
  const aud = claims.aud === undefined ? audience : claims.aud;
  if (aud !== null) payload.aud = aud;
  const exp = claims.exp === undefined ? now + 600 : claims.exp;
  if (exp !== null) payload.exp = exp;
  if (claims.nbf !== undefined) payload.nbf = claims.nbf;
  const secret = typeof key === 'string' ? new TextEncoder().encode(key) : key;
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt(now).sign(secret);
}

async function parse<T>(res: Response): Promise<ApiResponse<T>> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, text, body: body as T };
}

/**
 * A real HTTP server (`startServer` on port 0) over a fresh embedded engine. HS256 is on with a random secret
 * unless `env` sets TROUPE_JWT_SECRET ('' turns it off, e.g. for an RS256-only server). The rate limit is high
 * unless `env` sets it, so suites that send many requests measure what they mean to.
 */
export async function startTestServer(
  env: Record<string, string> = {},
  overrides: EngineOverrides = {},
  /** More options for `startServer` (e.g. `live` tuning). */
  serverOptions: Pick<ServerOptions, 'live'> = {},
  /** An existing data dir, to start again on what an earlier server stored (disposing removes it). */
  dir?: string,
): Promise<TestServer> {
  const fullEnv: Record<string, string> = {
    API_RATE_LIMIT_PER_MINUTE: '1000000',
    ...env,
    TROUPE_JWT_SECRET: env.TROUPE_JWT_SECRET ?? randomSecret(),
  };
  const t = await startEngine(fullEnv, overrides, dir);
  const config = loadConfig({ TROUPE_DATA_DIR: t.dir, LOGGING_LEVEL: 'warn', TROUPE_STORE_SYNC: 'NORMAL', ...fullEnv });
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger('warn', {
    write(line: string) {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    },
  });
  let server: Server;
  try {
    server = await startServer({ ...serverOptions, engine: t.engine, config, logger, port: 0, host: '127.0.0.1' });
  } catch (err) {
    await t[Symbol.asyncDispose]();
    throw err;
  }
  const url = `http://127.0.0.1:${server.port}`;
  const secret = config.TROUPE_JWT_SECRET ?? '';
  const audience = config.TROUPE_JWT_AUDIENCE;

  const request = async <T>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> => {
    const headers: Record<string, string> = {};
    let body: string | Uint8Array | undefined;
    if (options.raw !== undefined) body = options.raw;
    else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    Object.assign(headers, options.headers);
    return parse<T>(await fetch(`${url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) }));
  };
  const token = (sub: string, roles: readonly Role[] = ['runner'], claims: TokenClaims = {}) =>
    signHs256(secret, sub, roles, audience, claims);
  const clientFor = (tok: string, sub = '?', roles: readonly Role[] = []): Client => ({
    sub,
    roles,
    token: tok,
    get: (path, options = {}) => request('GET', path, { ...options, token: tok }),
    post: (path, body, options = {}) => request('POST', path, { ...options, token: tok, ...(body === undefined ? {} : { body }) }),
    del: (path, options = {}) => request('DELETE', path, { ...options, token: tok }),
  });

  return {
    t,
    engine: t.engine,
    server,
    config,
    port: server.port,
    url,
    wsUrl: `ws://127.0.0.1:${server.port}`,
    secret,
    audience,
    logs,
    token,
    request,
    client: async (sub, roles = ['runner']) => clientFor(await token(sub, roles), sub, roles),
    clientFor,
    async [Symbol.asyncDispose]() {
      await server.close(2000);
      await t[Symbol.asyncDispose]();
      // A 5xx is never the answer to a request a test makes: each one is logged as 'request failed'.
      const failures = logs.filter((l) => l.msg === 'request failed');
      if (failures.length > 0) {
        throw new Error(`the server answered ${failures.length} request(s) with a 5xx: ${JSON.stringify(failures[0]).slice(0, 1000)}`);
      }
    },
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends `request` (a complete HTTP/1.1 request, head and body) on a fresh socket and reads one answer.
 * For what fetch will not send: lying or missing content-length, odd header bytes, bodies the server refuses
 * before they are read. The request asks the server to close the connection, so the answer ends at close.
 */
export function rawRequest(port: number, request: string | Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = () => {
      if (settled) return;
      const all = Buffer.concat(chunks).toString('latin1');
      const split = all.indexOf('\r\n\r\n');
      if (split < 0) {
        settled = true;
        reject(new Error(`no complete HTTP answer: ${JSON.stringify(all.slice(0, 200))}`));
        return;
      }
      const [statusLine = '', ...lines] = all.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = headers['content-length'];
      let body = all.slice(split + 4);
      if (length !== undefined) {
        if (Buffer.byteLength(body, 'latin1') < Number(length)) return; // wait for the rest
        body = body.slice(0, Number(length));
      }
      settled = true;
      socket.destroy();
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: Buffer.from(body, 'latin1').toString('utf8') });
    };
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      finish();
    });
    socket.on('end', finish);
    socket.on('close', finish);
    // The server may answer and close before the whole body is written (413): what was read still counts.
    socket.on('error', () => finish());
    socket.setTimeout(10_000, () => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(new Error('no answer within 10 s'));
    });
    socket.write(request);
  });
}

/** An id of the right shape that no store holds. */
export function missingId(prefix: 'exe' | 'run' | 'key' = 'exe'): string {
  return newId(prefix);
}

/**
 * Asserts an error answer: the status, a JSON content type, and exactly `{ error: { code, message, details } }`
 * with the code's registered status. `code` may be omitted to accept any code registered for `status`.
 */
export function expectError(res: Pick<ApiResponse, 'status' | 'body'> & { headers: Headers | Record<string, string> }, status: number, code?: ErrorCode): void {
  const contentType = res.headers instanceof Headers ? res.headers.get('content-type') : res.headers['content-type'];
  const body = typeof res.body === 'string' ? (JSON.parse(res.body) as unknown) : res.body;
  const shown = JSON.stringify(body)?.slice(0, 300);
  expect(res.status, shown).toBe(status);
  if (code !== undefined) expect((body as { error?: { code?: unknown } } | null)?.error?.code, shown).toBe(code);
  expect(contentType).toMatch(/^application\/json/);
  const error = (body as { error: { code: ErrorCode; message: unknown; details: unknown } }).error;
  expect(Object.keys(body as object)).toEqual(['error']);
  expect(Object.keys(error).sort()).toEqual(['code', 'details', 'message']);
  expect(typeof error.message).toBe('string');
  expect(String(error.message).length).toBeGreaterThan(0);
  expect(Object.hasOwn(ERROR_CODES, error.code) ? ERROR_CODES[error.code].status : `unregistered code ${error.code}`).toBe(status);
}

/** Polls GET /v1/executions/:id as `client` until its status is one of `statuses`; returns the execution. */
export async function waitForStatus(client: Client, id: string, ...statuses: string[]): Promise<Execution> {
  return waitFor(async () => {
    const res = await client.get<Execution>(`/v1/executions/${id}`);
    return res.status === 200 && statuses.includes(res.body.status) ? res.body : undefined;
  }, `execution ${id} to be ${statuses.join(' or ')}`);
}
