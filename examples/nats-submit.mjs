#!/usr/bin/env node
// Submits a run over NATS request/reply on troupe.api.submit instead of HTTP.
//
//   NATS_URL=nats://127.0.0.1:4222 TROUPE_TOKEN=troupe_… node examples/nats-submit.mjs [run.json | -]
//
// The request body is a POST /v1/runs body (default: examples/smoke.run.json; `-` reads standard input); the
// Authorization header carries an API key or a JWT with the runner or admin role. The reply is what the HTTP API
// answers — { id, status, executionIds } or { error: { code, message, details } } — and its HTTP status comes in
// the Troupe-Status header. Exits 0 on a 2xx, 1 otherwise.
import { readFileSync } from 'node:fs';
import { headers } from '@nats-io/transport-node';
import { connectFromEnv } from './nats-connect.mjs';

const file = process.argv[2] ?? new URL('./smoke.run.json', import.meta.url);
const body = readFileSync(file === '-' ? 0 : file);
const token = process.env.TROUPE_TOKEN;
if (!token) {
  console.error('set TROUPE_TOKEN to an API key (troupe_…) or a JWT');
  process.exit(2);
}

const nc = await connectFromEnv('troupe-example-submit');
try {
  const h = headers();
  h.set('Authorization', `Bearer ${token}`);
  // One API node in the queue group answers; no answer within the timeout means no engine is serving.
  const reply = await nc.request('troupe.api.submit', body, { headers: h, timeout: 10_000 });
  const status = Number(reply.headers?.get('Troupe-Status') ?? 0);
  console.log(`Troupe-Status: ${status}`);
  console.log(JSON.stringify(reply.json(), null, 2));
  process.exitCode = status >= 200 && status < 300 ? 0 : 1;
} finally {
  await nc.close();
}
