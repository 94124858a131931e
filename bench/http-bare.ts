/**
 * The peer of http-api.bench.ts: a bare uWebSockets.js app doing validation only. POST /v1/executions reads the
 * body, parses it and checks it with the same compiled TypeBox schema the engine uses for an item, then answers
 * 201 with a small JSON; GET /v1/executions/:id answers a fixed JSON. No auth, no store, no engine.
 */
import { TypeCompiler } from '@sinclair/typebox/compiler';
import uWS, { type HttpResponse } from 'uWebSockets.js';
import { TestItemSchema } from '../src/core/schemas.js';

export interface BareServer {
  port: number;
  close(): void;
}

const CREATED = JSON.stringify({ id: 'exe_01BARE0000000000000000000', status: 'PENDING' });
const INVALID = JSON.stringify({ error: { code: 'VALIDATION_FAILED', message: 'invalid item', details: [] } });

function answer(res: HttpResponse, status: string, body: string): void {
  res.cork(() => {
    res.writeStatus(status);
    res.writeHeader('content-type', 'application/json; charset=utf-8');
    res.end(body);
  });
}

/** Listens on 127.0.0.1 on a free port; `getBody` is what every GET answers. */
export async function startBare(getBody: string): Promise<BareServer> {
  const check = TypeCompiler.Compile(TestItemSchema);
  const app = uWS.App();
  app.post('/v1/executions', (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const chunks: Buffer[] = [];
    res.onData((chunk, isLast) => {
      // The chunk's memory is reused after this callback: copy it (as the engine's http-kit does).
      chunks.push(Buffer.from(new Uint8Array(chunk)));
      if (!isLast || aborted) return;
      let valid = false;
      try {
        valid = check.Check(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        valid = false;
      }
      if (valid) answer(res, '201 Created', CREATED);
      else answer(res, '400 Bad Request', INVALID);
    });
  });
  app.get('/v1/executions/:id', (res) => answer(res, '200 OK', getBody));
  app.any('/*', (res) => answer(res, '404 Not Found', '{}'));
  const socket = await new Promise<uWS.us_listen_socket>((resolve, reject) => {
    app.listen('127.0.0.1', 0, (s) => (s ? resolve(s) : reject(new Error('bare app: could not listen'))));
  });
  return { port: uWS.us_socket_local_port(socket), close: () => uWS.us_listen_socket_close(socket) };
}
