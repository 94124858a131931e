import { afterAll, beforeAll } from 'vitest';
import { JetStreamBus } from '../src/bus/jetstream.bus.js';
import { busContract } from './contract/bus.contract.js';
import { startNatsServer, type NatsServerHandle } from './helpers/nats-server.js';

/**
 * The bus contract against NATS JetStream, on a nats-server of this file's own. Every scope the contract
 * asks for is a prefix of its own, so each bus has its own streams.
 */
let server: NatsServerHandle;

beforeAll(async () => {
  server = await startNatsServer();
});

afterAll(async () => {
  await server?.stop();
});

busContract(
  'jetstream',
  ({ scope, ...options }) => JetStreamBus.connect({ servers: server.url, prefix: scope, ...options }),
  { durable: true },
);
