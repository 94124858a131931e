import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { githubSignature } from '../../src/core/webhook-signatures.js';
import type { ApiResponse, Client, TestServer } from './server.js';
import { waitFor } from './wait.js';

/** Webhook deliveries and notification receivers for the trigger tests (SPEC §8). */

export const GITHUB_SECRET = 'github-webhook-secret-for-tests';
export const GITLAB_TOKEN = 'gitlab-webhook-token-for-tests';
export const HOOK_ENV = { TROUPE_GITHUB_WEBHOOK_SECRET: GITHUB_SECRET, TROUPE_GITLAB_WEBHOOK_TOKEN: GITLAB_TOKEN };

/** A suite of `client`'s own with one test case that passes at once (or the given items). */
export async function seedSuite(client: Client, items: unknown[] = [{ name: 'smoke', type: 'GENERIC', steps: [{ action: 'noop' }] }]): Promise<string> {
  const ids: string[] = [];
  for (const item of items) ids.push(((await client.post('/v1/testcases', item)).body as { id: string }).id);
  const suite = await client.post('/v1/suites', { name: 'ci suite', testCaseIds: ids });
  if (suite.status !== 201) throw new Error(`suite not created: ${suite.text}`);
  return (suite.body as { id: string }).id;
}

export function pushPayload(repository: string, branch: string, commit = 'c0ffee'.padEnd(40, '0')) {
  return { ref: `refs/heads/${branch}`, before: '0'.repeat(40), after: commit, repository: { full_name: repository } };
}

export interface GithubOptions {
  delivery?: string;
  /** Overrides the signature header; null sends none. */
  signature?: string | null;
  /** Signs with this secret instead of the server's. */
  secret?: string;
  /** Sent instead of the JSON of the payload (still signed). */
  raw?: string;
}

/** POSTs a GitHub delivery: `X-GitHub-Event`, `X-GitHub-Delivery` and `X-Hub-Signature-256` over the exact body. */
export function github(s: TestServer, event: string, payload: unknown, options: GithubOptions = {}): Promise<ApiResponse> {
  const body = options.raw ?? JSON.stringify(payload);
  const signature = options.signature === undefined ? githubSignature(options.secret ?? GITHUB_SECRET, body) : options.signature;
  return s.request('POST', '/v1/hooks/github', {
    raw: body,
    headers: {
      'content-type': 'application/json',
      'x-github-event': event,
      'x-github-delivery': options.delivery ?? crypto.randomUUID(),
      ...(signature === null ? {} : { 'x-hub-signature-256': signature }),
    },
  });
}

/** POSTs a GitLab delivery with `X-Gitlab-Token` (null: none), `X-Gitlab-Event` and `X-Gitlab-Event-UUID`. */
export function gitlab(s: TestServer, event: string, payload: unknown, options: { delivery?: string; token?: string | null } = {}): Promise<ApiResponse> {
  const token = options.token === undefined ? GITLAB_TOKEN : options.token;
  return s.request('POST', '/v1/hooks/gitlab', {
    body: payload,
    headers: {
      'x-gitlab-event': event,
      'x-gitlab-event-uuid': options.delivery ?? crypto.randomUUID(),
      ...(token === null ? {} : { 'x-gitlab-token': token }),
    },
  });
}

export interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

export interface Receiver extends AsyncDisposable {
  url: string;
  received: Received[];
  /** Resolves once `n` requests have arrived. */
  waitForRequests(n: number): Promise<Received[]>;
}

/** A real HTTP receiver on port 0: answers each POST with the next of `statuses` (the last one repeats). */
export async function startReceiver(statuses: number[] = [200]): Promise<Receiver> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = statuses[Math.min(received.length, statuses.length - 1)] ?? 200;
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(String(status));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/troupe`,
    received,
    waitForRequests: (n) => waitFor(() => (received.length >= n ? received : undefined), `${n} notification request(s)`),
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
