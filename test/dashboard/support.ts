import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, connect, type Server as NetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { tempDir } from '../helpers/engine.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The dashboard as a user gets it: a real `troupe serve` child process (PORT=0, its own data dir, the admin key
 * it prints on the first start), reached by the browser through a TCP proxy that a test can cut, so the
 * page's WebSocket dies the way it does when a network drops.
 */

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'troupe.js');
export const SCREENSHOTS = join(ROOT, 'test-results', 'dashboard');

export interface ApiAnswer<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed JSON, or undefined when the body is empty or not JSON. */
  body: T;
}

export interface Served extends AsyncDisposable {
  readonly child: ChildProcess;
  readonly port: number;
  /** `http://127.0.0.1:<port>`, straight to the server. */
  readonly base: string;
  /** The admin API key printed on the first start. */
  readonly adminKey: string;
  /** stdout and stderr so far. */
  output(): string;
  /** A request with `Authorization: Bearer <key>` (none when key is null), JSON body when given. */
  api<T = Record<string, unknown>>(key: string | null, method: string, path: string, body?: unknown): Promise<ApiAnswer<T>>;
  /** A new API key (POST /v1/keys as the admin); answers its secret. */
  createKey(name: string, role: 'viewer' | 'runner' | 'admin', owner: string): Promise<string>;
}

/** The little of the DOM that in-page checks use (the project compiles without the DOM library). */
export interface PageElement {
  readonly textContent: string | null;
  getAttribute(name: string): string | null;
  querySelector(selector: string): PageElement | null;
}
export interface PageGlobals {
  document: { querySelector(selector: string): PageElement | null; querySelectorAll(selector: string): Iterable<PageElement> };
  sessionStorage: Record<string, string>;
}


/** Processes not yet stopped; killed if the test process exits first. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

async function request<T>(base: string, key: string | null, method: string, path: string, body?: unknown): Promise<ApiAnswer<T>> {
  const headers: Record<string, string> = {};
  if (key !== null) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, text, body: parsed as T };
}

/**
 * `node bin/troupe.js serve` on PORT=0 with a fresh TROUPE_DATA_DIR; resolves once it prints its address and
 * the first-start admin key. Disposing sends SIGTERM, expects exit code 0, and removes the data dir.
 */
/**
 * `troupe serve` on a free port. With `TROUPE_DATA_DIR` in `env` it runs on that dir (kept at dispose); a dir that
 * already has keys prints none, nor does a server that takes JWTs (TROUPE_JWT_SECRET): `adminKey` is then ''.
 */
export async function serve(env: Record<string, string> = {}): Promise<Served> {
  const dir = tempDir('troupe-dashboard-');
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: {
      ...process.env,
      PORT: '0',
      TROUPE_DATA_DIR: dir,
      LOGGING_LEVEL: 'warn',
      TROUPE_STORE_SYNC: 'NORMAL',
      EXECUTION_RETRY_DELAY_SECONDS: '0',
      API_RATE_LIMIT_PER_MINUTE: '100000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exit = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const stop = async (signal: NodeJS.Signals): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exit;
  };
  let port: number;
  let adminKey: string;
  try {
    port = Number(
      await waitFor(() => {
        if (child.exitCode !== null) throw new Error(`troupe serve exited ${child.exitCode}:\n${out}`);
        return /serving on http:\/\/localhost:(\d+)/.exec(out)?.[1];
      }, 'troupe serve to listen'),
    );
    const key = /^\s+(troupe_\S+)$/m.exec(out)?.[1];
    if (key === undefined && env.TROUPE_DATA_DIR === undefined && env.TROUPE_JWT_SECRET === undefined) throw new Error(`no admin key printed:\n${out}`);
    adminKey = key ?? '';
  } catch (err) {
    await stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const base = `http://127.0.0.1:${port}`;
  return {
    child,
    port,
    base,
    adminKey,
    output: () => out,
    api: (key, method, path, body) => request(base, key, method, path, body),
    async createKey(name, role, owner) {
      const res = await request<{ key: string }>(base, adminKey, 'POST', '/v1/keys', { name, role, owner });
      if (res.status !== 201) throw new Error(`POST /v1/keys answered ${res.status}: ${res.text}`);
      return res.body.key;
    },
    async [Symbol.asyncDispose]() {
      const code = await stop('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
      if (code !== 0) throw new Error(`troupe serve exited ${code} on SIGTERM:\n${out}`);
      // A 5xx is never the answer to what the dashboard asks: each one is logged as 'request failed'.
      if (out.includes('"msg":"request failed"')) throw new Error(`troupe serve answered a request with a 5xx:\n${out}`);
    },
  };
}

export interface CuttableProxy extends AsyncDisposable {
  readonly port: number;
  /** `http://127.0.0.1:<port>`: the page's origin. */
  readonly url: string;
  /** Connections open now (browser side). */
  readonly open: number;
  /** Connections accepted so far, refused ones included. */
  readonly accepted: number;
  /** Resets every open connection (the browser sees its WebSocket and any keep-alive socket die). */
  cut(): void;
  /** From now on, resets each new connection as soon as it is accepted. */
  refuse(): void;
  /** Passes new connections through again. */
  allow(): void;
  /** Sends new connections to another port (a server started again elsewhere). */
  retarget(port: number): void;
}

/** A TCP proxy on 127.0.0.1 in front of `targetPort`, passing bytes both ways until told otherwise. */
export async function startProxy(firstPort: number): Promise<CuttableProxy> {
  let targetPort = firstPort;
  const pairs = new Set<[Socket, Socket]>();
  let refusing = false;
  let accepted = 0;
  const server: NetServer = createServer((client) => {
    accepted++;
    if (refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no TCP port');
  const cut = () => {
    for (const pair of [...pairs]) {
      pairs.delete(pair);
      pair[0].resetAndDestroy();
      pair[1].destroy();
    }
  };
  return {
    port: address.port,
    url: `http://127.0.0.1:${address.port}`,
    get open() {
      return pairs.size;
    },
    get accepted() {
      return accepted;
    },
    cut,
    refuse: () => {
      refusing = true;
    },
    allow: () => {
      refusing = false;
    },
    retarget: (port) => {
      targetPort = port;
    },
    async [Symbol.asyncDispose]() {
      cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Saves a full-page screenshot as test-results/dashboard/<name>.png; answers the path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Opens the dashboard at `origin`, signs in with `key`, and waits for the navigation to show. */
export async function signIn(page: Page, origin: string, key: string, route = ''): Promise<void> {
  await page.goto(`${origin}/${route}`);
  await page.getByRole('textbox', { name: 'API key or token' }).fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation').getByRole('link', { name: 'Runs' }).waitFor();
}

/** Resolves once the live indicator shows `state` (its `data-live` attribute). */
export async function liveState(page: Page, state: 'connecting' | 'live' | 'reconnecting', timeout = 30_000): Promise<void> {
  await page.locator(`[data-live="${state}"]`).waitFor({ state: 'attached', timeout });
}

/** The `[data-status]` text of each `[<attr>="<id>"]` row on the page, by id (missing rows are left out). */
export async function shownStatuses(page: Page, attr: 'data-run-id' | 'data-execution-id'): Promise<Record<string, string>> {
  return page.evaluate((a) => {
    const { document } = globalThis as unknown as PageGlobals;
    const shown: Record<string, string> = {};
    for (const row of document.querySelectorAll(`[${a}]`)) {
      const status = row.querySelector('[data-status]');
      const id = row.getAttribute(a);
      if (id !== null && status !== null) shown[id] = (status.textContent ?? '').trim();
    }
    return shown;
  }, attr);
}

/**
 * Waits until every row `[<attr>="<id>"]` shows `expected[id]` as its `[data-status]` text; on timeout the
 * assertion shows what the page showed instead.
 */
export async function expectStatuses(page: Page, attr: 'data-run-id' | 'data-execution-id', expected: Record<string, string>, timeout = 30_000): Promise<void> {
  try {
    await page.waitForFunction(
      ({ a, want }) => {
        const { document } = globalThis as unknown as PageGlobals;
        return Object.entries(want).every(([id, status]) => {
          const el = document.querySelector(`[${a}="${id}"] [data-status]`);
          return el !== null && (el.textContent ?? '').trim() === status;
        });
      },
      { a: attr, want: expected },
      { timeout, polling: 'raf' },
    );
  } catch {
    const shown = await shownStatuses(page, attr);
    expect(Object.fromEntries(Object.keys(expected).map((id) => [id, shown[id] ?? '(no row)']))).toEqual(expected);
  }
}

/** Records what a page does wrong: uncaught errors, and requests that leave `origin` (WebSockets included). */
export function watchPage(page: Page, origin: string): { errors: string[]; foreign: string[]; requests: string[] } {
  const host = new URL(origin).host;
  const seen = { errors: [] as string[], foreign: [] as string[], requests: [] as string[] };
  const note = (url: string) => {
    seen.requests.push(url);
    if (url.startsWith('data:') || url.startsWith('blob:') || url === 'about:blank') return;
    if (new URL(url).host !== host) seen.foreign.push(url);
  };
  page.on('pageerror', (e) => seen.errors.push(e.message));
  page.on('request', (r) => note(r.url()));
  page.on('websocket', (ws) => note(ws.url()));
  return seen;
}

/** The terminal statuses (SPEC §3). */
export const TERMINAL = new Set(['PASSED', 'FAILED', 'ERROR', 'TIMEOUT', 'SKIPPED', 'CANCELLED', 'ABORTED']);

/** Waits until the run has ended (via the API); answers its view. */
export async function runEnded(s: Served, key: string, runId: string, timeoutMs = 60_000): Promise<{ status: string; counts: Record<string, number> }> {
  return waitFor(
    async () => {
      const res = await s.api<{ status: string; counts: Record<string, number> }>(key, 'GET', `/v1/runs/${runId}`);
      return res.status === 200 && res.body.status !== 'PENDING' && res.body.status !== 'RUNNING' ? res.body : undefined;
    },
    `run ${runId} to end`,
    timeoutMs,
  );
}

/** The status of each execution of a run, by id, as the API has it. */
export async function apiStatuses(s: Served, key: string, runId: string): Promise<Record<string, string>> {
  const res = await s.api<{ items: { id: string; status: string }[] }>(key, 'GET', `/v1/runs/${runId}/executions?limit=1000`);
  if (res.status !== 200) throw new Error(`GET /v1/runs/${runId}/executions answered ${res.status}: ${res.text}`);
  return Object.fromEntries(res.body.items.map((e) => [e.id, e.status]));
}
