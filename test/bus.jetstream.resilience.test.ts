import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Consumer, Delivery, Job, JobResult } from '../src/bus/bus.port.js';
import { JetStreamBus, type JetStreamBusOptions } from '../src/bus/jetstream.bus.js';
import { names } from '../src/bus/jetstream/names.js';
import { makeJob, makeResult, makeTransition, poolName } from './contract/bus.fixtures.js';
import { startNatsServer, type NatsServerHandle } from './helpers/nats-server.js';
import { sleep, waitFor } from './helpers/wait.js';

/**
 * What the JetStream bus promises beyond the contract: acknowledged publishes survive a crash of
 * nats-server, the same bus objects carry on after it restarts, publishes wait for a server that is down,
 * leases are extended by working(), duplicates are stored once, pools are seen by every process.
 */
let server: NatsServerHandle;
const buses: JetStreamBus[] = [];
const consumers: Consumer[] = [];

beforeAll(async () => {
  server = await startNatsServer();
});

afterEach(async () => {
  for (const consumer of consumers.splice(0)) await consumer.stop().catch(() => undefined);
  for (const bus of buses.splice(0)) await bus.close();
});

afterAll(async () => {
  await server?.stop();
});

const newPrefix = () => `r${randomBytes(5).toString('hex')}`;

async function openBus(options: Partial<JetStreamBusOptions> = {}): Promise<JetStreamBus> {
  const bus = await JetStreamBus.connect({ servers: server.url, prefix: newPrefix(), ackWaitMs: 1_000, maxDeliver: 50, ...options });
  buses.push(bus);
  return bus;
}

function track(consumer: Consumer): Consumer {
  consumers.push(consumer);
  return consumer;
}

async function storedMessages(bus: JetStreamBus, stream: string): Promise<number> {
  const jsm = await jetstreamManager(bus.connection);
  return (await jsm.streams.info(stream)).state.messages;
}

describe('JetStream bus: a nats-server crash', () => {
  it('loses no acknowledged publish, and the same bus objects reconnect and keep consuming', async () => {
    const bus = await openBus();
    const pool = poolName();
    const acked = new Set<string>();
    const held: Delivery<Job>[] = [];
    let restarted = false;
    // Holds the first two jobs unacked across the crash; acks everything once the server is back.
    track(
      bus.consumeJobs(
        pool,
        (d) => {
          if (!restarted && held.length < 2) {
            held.push(d);
            return;
          }
          acked.add(d.data.jobId);
          d.ack();
        },
        { maxInFlight: 2 },
      ),
    );
    const results = new Set<string>();
    track(
      bus.consumeResults((d: Delivery<JobResult>) => {
        if (!restarted) return; // still unsettled when the server dies
        results.add(d.data.jobId);
        d.ack();
      }),
    );

    const before = Array.from({ length: 6 }, (_, i) => makeJob(pool, i));
    for (const job of before) await bus.publishJob(job);
    const resultsBefore = Array.from({ length: 4 }, (_, i) => makeResult(i));
    for (const result of resultsBefore) await bus.publishResult(result);
    await waitFor(() => held.length === 2, 'two jobs held unacked');

    await server.kill();
    await server.restart();
    restarted = true;

    // Published through the same bus object after the restart.
    const after = [makeJob(pool, 10), makeJob(pool, 11)];
    for (const job of after) await bus.publishJob(job);
    const resultAfter = makeResult(12);
    await bus.publishResult(resultAfter);

    const jobIds = [...before, ...after].map((j) => j.jobId);
    const resultIds = [...resultsBefore, resultAfter].map((r) => r.jobId);
    await waitFor(
      () => jobIds.every((id) => acked.has(id)) && resultIds.every((id) => results.has(id)),
      'every acknowledged job and result delivered after the restart',
      45_000,
    );
    expect(held.map((d) => d.data.jobId).every((id) => acked.has(id))).toBe(true);
  });

  it('a publish made while the server is down completes once it is back', async () => {
    const bus = await openBus();
    const pool = poolName();
    const job = makeJob(pool, 1);
    const transition = makeTransition(0);

    await server.kill();
    const publishing = Promise.all([bus.publishJob(job), bus.publishTransition(transition)]);
    let settled = false;
    void publishing.finally(() => (settled = true)).catch(() => undefined);
    await sleep(1_500);
    expect(settled).toBe(false); // nowhere to store it yet
    await server.restart();
    await publishing;

    const seen: Job[] = [];
    track(
      bus.consumeJobs(
        pool,
        (d) => {
          seen.push(d.data);
          d.ack();
        },
        { maxInFlight: 4 },
      ),
    );
    await waitFor(() => seen.length === 1, 'the job published during the outage');
    expect(seen).toEqual([job]);
    expect(await storedMessages(bus, names(bus.prefix).streams.events)).toBe(1);
  });
});

describe('JetStream bus: leases and duplicates', () => {
  it('does not redeliver a job whose consumer calls working() every quarter ack wait for five ack waits', async () => {
    const ackWaitMs = 1_000;
    const bus = await openBus({ ackWaitMs });
    const pool = poolName();
    const counts: number[] = [];
    let done = false;
    track(
      bus.consumeJobs(
        pool,
        (d) => {
          counts.push(d.deliveryCount);
          // A quarter, not a half: a timer late by a few hundred ms on a loaded machine must not lose the lease.
          const heartbeat = setInterval(() => d.working(), ackWaitMs / 4);
          setTimeout(() => {
            clearInterval(heartbeat);
            d.ack();
            done = true;
          }, ackWaitMs * 5);
        },
        { maxInFlight: 1 },
      ),
    );
    await bus.publishJob(makeJob(pool));

    await waitFor(() => done, 'the slow job acked');
    await sleep(ackWaitMs * 2);
    expect(counts).toEqual([1]);
  });

  it('stores a job or a transition published twice with the same id once', async () => {
    const bus = await openBus();
    const streams = names(bus.prefix).streams;
    const pool = poolName();
    const job = makeJob(pool);
    const transition = makeTransition(0);
    await bus.publishJob(job);
    await bus.publishJob({ ...job });
    await bus.publishTransition(transition);
    await bus.publishTransition({ ...transition });
    await bus.publishTransition({ ...transition, seq: 2, from: 'PENDING', to: 'RUNNING', event: 'START' });

    expect(await storedMessages(bus, streams.jobs)).toBe(1);
    expect(await storedMessages(bus, streams.events)).toBe(2);

    const seen: number[] = [];
    track(
      bus.consumeJobs(
        pool,
        (d) => {
          seen.push(d.deliveryCount);
          d.ack();
        },
        { maxInFlight: 4 },
      ),
    );
    await waitFor(() => seen.length === 1, 'the job');
    await sleep(1_000);
    expect(seen).toEqual([1]);
  });
});

describe('JetStream bus: a consumer that dies', () => {
  it('redelivers the job it held with the next delivery count, also when nobody else was waiting as it fell due', async () => {
    // nats-server 2.9 would deliver it again as new (count 1) if the dead consumer's pulls were still queued
    // then: see pullHeartbeatFor in src/bus/jetstream/pull-consumer.ts.
    const ackWaitMs = 1_000;
    const prefix = newPrefix();
    const pool = poolName();
    const counts: number[] = [];
    for (let round = 1; round <= 3; round++) {
      const bus = await JetStreamBus.connect({ servers: server.url, prefix, ackWaitMs, maxDeliver: 50 });
      if (round === 1) await bus.publishJob(makeJob(pool));
      bus.consumeJobs(pool, (d) => counts.push(d.deliveryCount), { maxInFlight: 16 });
      await waitFor(() => counts.length === round, `delivery ${round}`);
      // Dies as a killed process does: the connection drops, its waiting pulls are left at the server.
      await bus.connection.close();
      await sleep(ackWaitMs * 2); // the job falls due while no consumer is there
    }
    expect(counts).toEqual([1, 2, 3]);
  });
});

describe('JetStream bus: pools across processes', () => {
  it('lists a pool declared through another connection, with its requirements', async () => {
    const prefix = newPrefix();
    const [a, b] = [await openBus({ prefix }), await openBus({ prefix })];
    const pool = poolName('gpu');
    expect((await b.listPools()).map((p) => p.pool)).not.toContain(pool);

    await a.declarePool(pool, { gpu: 'true' });

    expect(await b.listPools()).toContainEqual({ pool, requires: { gpu: 'true' } });
    await b.declarePool(pool, { gpu: 'false' });
    expect(await a.listPools()).toContainEqual({ pool, requires: { gpu: 'false' } });
  });
});
