import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { item } from '../helpers/engine.js';
import { startTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { expectedOn, LiveClient, receivedOn } from './live.helpers.js';

const BACKLOG = 64 * 1024;

describe('live channel: slow consumers', () => {
  it('closes a client that stops reading with 4008 at its bound, while a normal client receives everything', async () => {
    await using s = await startTestServer({ WEBSOCKET_HEARTBEAT_INTERVAL: '1' }, {}, { live: { backlogBytes: BACKLOG } });
    const token = await s.token('sam', ['runner']);
    const closes = async () =>
      Number(/^troupe_live_slow_consumer_closes_total (\d+)$/m.exec((await s.request('GET', '/metrics')).text)?.[1]);

    const normal = await LiveClient.connect(s.wsUrl, { header: token });
    const ack = await normal.subscribe(['user:sam']);
    const slow = await LiveClient.connect(s.wsUrl, { header: token });
    await slow.subscribe(['user:sam']);
    // Stop reading: the kernel buffers fill, then the server's backlog for this socket grows.
    const tcp = (slow.socket as unknown as { _socket: Socket })._socket;
    tcp.pause();

    // Keep the engine busy until the server gives up on the slow client. Kernel socket buffers absorb a few
    // MiB first, so how many runs that takes depends on the machine, not on the server's bound.
    const runs: string[] = [];
    for (let i = 0; (await closes()) === 0; i++) {
      expect(i, 'the slow client was never closed').toBeLessThan(60);
      const res = await s.request('POST', '/v1/runs', {
        token,
        body: { items: Array.from({ length: 500 }, (_, n) => item(`load ${i}.${n}`)) },
      });
      expect(res.status, res.text).toBe(201);
      const runId = res.body.id as string;
      runs.push(runId);
      // Twice the bytes per event for the slow client.
      slow.send({ op: 'subscribe', topics: [`run:${runId}`] });
      await s.engine.coordinator.waitForRun(runId);
    }
    expect(await closes()).toBe(1);

    tcp.resume();
    const closed = await slow.waitClosed();
    expect(closed).toEqual({ code: 4008, reason: `slow consumer: backlog over ${BACKLOG} bytes; reconnect with since` });

    // The normal client, on the same topic at the same time, got every event once and in order.
    const newest = (await s.engine.store.logSince(0, 1_000_000)).at(-1)!.cursor;
    await normal.next((m) => m.op === 'heartbeat' && m.cursor! >= newest, 'a heartbeat past the last event');
    const stored = await s.engine.store.logSince(ack.cursor!, 1_000_000);
    const owners = new Map(stored.map((e) => [e.executionId, 'sam']));
    const got = receivedOn(normal.messages, 'user:sam');
    expect(got.length).toBe(runs.length * 500 * 4); // three transitions and one step each
    expect(got).toEqual(expectedOn('user:sam', stored, owners));
    expect(normal.closed).toBeNull();
    await waitFor(async () => /^troupe_live_connections 1$/m.test((await s.request('GET', '/metrics')).text), 'one open socket');
    normal.close();
  });

  it('paces a replay far larger than the bound by drain, so a client that reads is never cut off', async () => {
    await using s = await startTestServer({ WEBSOCKET_HEARTBEAT_INTERVAL: '1' }, {}, { live: { backlogBytes: BACKLOG } });
    const token = await s.token('rita', ['runner']);
    const submit = async (n: number) => {
      const res = await s.request('POST', '/v1/runs', { token, body: { items: Array.from({ length: n }, (_, i) => item(`r${i}`)) } });
      expect(res.status, res.text).toBe(201);
      return res.body.id as string;
    };
    const runs: string[] = [];
    for (let i = 0; i < 12; i++) {
      runs.push(await submit(500));
      await s.engine.coordinator.waitForRun(runs.at(-1)!);
    }
    const topics = ['user:rita', ...runs.map((id) => `run:${id}`)];
    // Far more than kernel socket buffers hold, so the server's own backlog builds up: about 10 MB.
    const history = await s.engine.store.logSince(0, 1_000_000);
    expect(history.length).toBe(12 * 500 * 4);

    // The replay runs while another run publishes, so the slow-consumer check runs during it.
    const busy = await submit(500);
    const ws = await LiveClient.connect(s.wsUrl, { header: token });
    const ack = await ws.subscribe(topics, 0);
    expect(ack.op).toBe('subscribed');
    await s.engine.coordinator.waitForRun(busy);
    const newest = (await s.engine.store.logSince(0, 1_000_000)).at(-1)!.cursor;
    await ws.next((m) => m.op === 'heartbeat' && m.cursor! >= newest, 'a heartbeat past the last event');
    const stored = await s.engine.store.logSince(0, 1_000_000);
    const owners = new Map(stored.map((e) => [e.executionId, 'rita']));
    for (const topic of topics) expect(receivedOn(ws.messages, topic)).toEqual(expectedOn(topic, stored, owners));
    expect(ws.closed).toBeNull();
    expect(await closesOf(s)).toBe(0);
    ws.close();
  });
});

async function closesOf(s: { request: (method: string, path: string) => Promise<{ text: string }> }): Promise<number> {
  return Number(/^troupe_live_slow_consumer_closes_total (\d+)$/m.exec((await s.request('GET', '/metrics')).text)?.[1]);
}
