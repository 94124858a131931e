import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from './wait.js';
import type { Client, RunView } from './server.js';

/** A local server the `http` steps of report tests call: `/ok` answers 200, `/flaky` 500 once and then 200, else 500. */
export interface Target extends AsyncDisposable {
  base: string;
  /** Steps of one `GET <path>` expecting 200, named `GET <path>`. */
  get: (path: string) => unknown[];
}

export async function startTarget(): Promise<Target> {
  let flakyHits = 0;
  const server = createServer((req, res) => {
    if (req.url === '/flaky') res.statusCode = flakyHits++ === 0 ? 500 : 200;
    else res.statusCode = req.url === '/ok' ? 200 : 500;
    res.end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    get: (path) => [{ action: 'http', name: `GET ${path}`, request: { method: 'GET', url: `${base}${path}` }, expect: { status: 200 } }],
    async [Symbol.asyncDispose]() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Waits until the run has ended (neither PENDING nor RUNNING). */
export async function runEnded(client: Client, id: string): Promise<void> {
  await waitFor(async () => {
    const { body } = await client.get<RunView>(`/v1/runs/${id}`);
    return body.status !== 'PENDING' && body.status !== 'RUNNING';
  }, `run ${id} to end`);
}
