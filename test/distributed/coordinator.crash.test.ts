import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { expectOnceTerminal, sleepItem } from './support.js';

/**
 * The coordinator and nats-server dying mid-run: after a restart every accepted execution ends terminal
 * exactly once with contiguous events, and no transition JetStream acknowledged is lost from the event stream.
 */

let cluster: Cluster;
beforeAll(async () => {
  cluster = await Cluster.start();
  await cluster.serve();
  await cluster.worker({ id: 'w1', threads: 1 });
  await cluster.worker({ id: 'w2', threads: 1 });
});
afterAll(async () => {
  await cluster?.[Symbol.asyncDispose]();
});

async function countsOf(runId: string): Promise<Record<string, number>> {
  return (await cluster.run(runId)).counts;
}

/** Every transition in the TROUPE_EVENTS stream, as `<executionId>:<seq>`. */
async function streamedTransitions(): Promise<string[]> {
  const nc = await connect({ servers: cluster.nats.url });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info('TROUPE_EVENTS');
    const seen: string[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const msg = await jsm.streams.getMessage('TROUPE_EVENTS', { seq }).catch(() => null);
      if (!msg) continue;
      const event = msg.json<{ executionId: string; seq: number }>();
      seen.push(`${event.executionId}:${event.seq}`);
    }
    return seen;
  } finally {
    await nc.close();
  }
}

describe('distributed mode: coordinator and nats-server crashes', () => {
  it('kill -9 of the coordinator mid-run, then a restart: every execution ends terminal exactly once', async () => {
    const run = await cluster.submit(Array.from({ length: 40 }, (_, i) => sleepItem(`k${i}`, 700)));
    await waitFor(async () => ((await countsOf(run.id)).PASSED ?? 0) >= 4, 'some executions to pass');
    expect((await countsOf(run.id)).RUNNING).toBeGreaterThan(0);
    await cluster.server!.kill();
    // Workers go on and report into the results stream while no coordinator listens.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await cluster.serve();
    expect(await cluster.finished(run.id)).toMatchObject({ status: 'PASSED', counts: { PASSED: 40 } });
    for (const id of run.executionIds) {
      const events = await expectOnceTerminal(cluster, id);
      expect(events.map((e) => e.to)).toEqual(['PENDING', 'RUNNING', 'PASSED']);
    }
  });

  it('kill -9 of nats-server mid-run, then a restart: the run finishes and no acknowledged transition is lost', async () => {
    const run = await cluster.submit(Array.from({ length: 40 }, (_, i) => sleepItem(`n${i}`, 700)));
    await waitFor(async () => ((await countsOf(run.id)).PASSED ?? 0) >= 4, 'some executions to pass');
    const before = new Set(await streamedTransitions());
    await cluster.nats.kill();
    // Not ready while the bus is gone; the API itself stays up.
    const down = await cluster.request('GET', '/readyz');
    expect(down).toEqual({ status: 503, body: { status: 'not ready', store: 'sqlite', bus: 'unreachable' } });
    await cluster.nats.restart();
    await waitFor(async () => (await cluster.request('GET', '/readyz')).status === 200, 'ready again once NATS is back');
    expect(await cluster.finished(run.id, 90_000)).toMatchObject({ status: 'PASSED', counts: { PASSED: 40 } });
    const stored: string[] = [];
    for (const id of run.executionIds) {
      const events = await expectOnceTerminal(cluster, id);
      expect(events.map((e) => e.to)).toEqual(['PENDING', 'RUNNING', 'PASSED']);
      stored.push(...events.map((e) => `${id}:${e.seq}`));
    }
    // What the stream held before the crash is still there, and every stored transition reached it once.
    const after = await waitFor(async () => {
      const streamed = await streamedTransitions();
      return stored.every((t) => streamed.includes(t)) ? streamed : null;
    }, 'every stored transition in the event stream');
    for (const t of before) expect(after).toContain(t);
    const mine = after.filter((t) => run.executionIds.some((id) => t.startsWith(`${id}:`)));
    expect(new Set(mine).size).toBe(mine.length);
    expect(mine.length).toBe(stored.length);
  });
});
