// Shared by the NATS examples: connects with the same variables Troupe reads (docs/nats.md, "Securing").
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator } from '@nats-io/transport-node';

/** NATS_URL (default nats://127.0.0.1:4222), with NATS_CREDS, NATS_USER + NATS_PASSWORD or NATS_TOKEN. */
export function connectFromEnv(name) {
  const env = process.env;
  return connect({
    servers: (env.NATS_URL || 'nats://127.0.0.1:4222').split(',').map((s) => s.trim()),
    name,
    ...(env.NATS_CREDS ? { authenticator: credsAuthenticator(readFileSync(env.NATS_CREDS)) } : {}),
    ...(env.NATS_USER ? { user: env.NATS_USER, pass: env.NATS_PASSWORD } : {}),
    ...(env.NATS_TOKEN ? { token: env.NATS_TOKEN } : {}),
  });
}
