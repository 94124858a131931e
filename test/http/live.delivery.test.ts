import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/log.js';
import { startServer } from '../../src/http/server.js';
import type { LogEntry } from '../../src/store/store.port.js';
import { item } from '../helpers/engine.js';
import { missingId, startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { expectedOn, LiveClient, receivedOn } from './live.helpers.js';

let s: TestServer;

beforeAll(async () => {
  s = await startTestServer({ WEBSOCKET_HEARTBEAT_INTERVAL: '1' });
});
afterAll(async () => {
  await s?.[Symbol.asyncDispose]();
});

async function storedSince(cursor: number): Promise<LogEntry[]> {
  return s.engine.store.logSince(cursor, 100_000);
}

async function ownersOf(events: LogEntry[]): Promise<Map<string, string>> {
  const owners = new Map<string, string>();
  for (const e of events) {
    if (!owners.has(e.executionId)) owners.set(e.executionId, (await s.engine.store.getExecution(e.executionId))!.owner);
  }
  return owners;
}

async function newestStored(): Promise<number> {
  return (await storedSince(0)).at(-1)?.cursor ?? 0;
}

/** Resolves once `client` has seen a heartbeat at or past everything stored now: all earlier events reached it. */
async function settled(client: LiveClient): Promise<void> {
  const newest = await newestStored();
  await client.next((m) => m.op === 'heartbeat' && m.cursor! >= newest, `a heartbeat at cursor ${newest}`);
}

async function submit(token: string, count: number, steps: unknown[] = [{ action: 'noop' }]): Promise<{ id: string; executionIds: string[] }> {
  const res = await s.request('POST', '/v1/runs', {
    token,
    body: { items: Array.from({ length: count }, (_, i) => item(`item ${i}`, steps)) },
  });
  expect(res.status, res.text).toBe(201);
  return res.body as { id: string; executionIds: string[] };
}

describe('live channel: subscribe and live delivery', () => {
  it('acknowledges with the published cursor, then delivers every transition of a run in order', async () => {
    const token = await s.token('alice', ['runner']);
    const ws = await LiveClient.connect(s.wsUrl, { header: token });
    const userAck = await ws.subscribe(['user:alice']);
    expect(userAck).toEqual({ op: 'subscribed', topics: ['user:alice'], cursor: await newestStored() });

    const run = await submit(token, 5);
    const runAck = await ws.subscribe([`run:${run.id}`]);
    expect(runAck).toMatchObject({ op: 'subscribed', topics: [`run:${run.id}`] });
    expect(await s.engine.coordinator.waitForRun(run.id)).toBe('PASSED');
    await settled(ws);

    const stored = await storedSince(userAck.cursor!);
    const owners = await ownersOf(stored);
    const mine = receivedOn(ws.messages, 'user:alice');
    expect(mine).toEqual(expectedOn('user:alice', stored, owners));
    // 5 executions: creation, START, PASS each.
    expect(mine).toHaveLength(5 * 4); // per execution: three transitions and one step
    expect(receivedOn(ws.messages, `run:${run.id}`)).toEqual(
      expectedOn(`run:${run.id}`, stored.filter((e) => e.cursor > runAck.cursor!), owners),
    );
    const cursors = mine.map((m) => m.cursor);
    expect(cursors).toEqual([...cursors].sort((a, b) => a - b));
    expect(new Set(cursors).size).toBe(cursors.length);

    const first = ws.events('user:alice')[0]!;
    const creation = stored.find((e) => e.cursor === first.cursor)!;
    if (creation.kind !== 'transition') throw new Error('the first event of a run is a transition');
    expect(first).toEqual({
      topic: 'user:alice',
      cursor: creation.cursor,
      event: {
        type: 'transition',
        executionId: creation.executionId,
        runId: run.id,
        seq: 1,
        from: null,
        to: 'PENDING',
        event: 'CREATE',
        at: new Date(creation.record.at).toISOString(),
        attempt: 1,
        reason: creation.record.reason,
      },
    });
    ws.close();
  });

  it('answers someone else’s execution, run and user topics exactly like missing ids, and sends nothing on them', async () => {
    const aliceToken = await s.token('alice', ['runner']);
    const run = await submit(aliceToken, 2);
    await s.engine.coordinator.waitForRun(run.id);
    const exe = run.executionIds[0]!;

    const bob = await LiveClient.connect(s.wsUrl, { query: await s.token('bob', ['runner', 'viewer']) });
    const missingExe = missingId('exe');
    const missingRun = missingId('run');
    bob.send({ op: 'subscribe', topics: [`execution:${exe}`, `run:${run.id}`, 'user:alice', `execution:${missingExe}`, `run:${missingRun}`] });
    await waitFor(() => bob.messages.filter((m) => m.op === 'error').length === 5, 'five errors');
    const errors = bob.messages.filter((m) => m.op === 'error');
    expect(errors.map((m) => [m.topic, m.error!.code])).toEqual([
      [`execution:${exe}`, 'NOT_FOUND'],
      [`run:${run.id}`, 'NOT_FOUND'],
      ['user:alice', 'NOT_FOUND'],
      [`execution:${missingExe}`, 'NOT_FOUND'],
      [`run:${missingRun}`, 'NOT_FOUND'],
    ]);
    // The answer for someone else's id has the same shape as for a missing one.
    expect(errors[0]!.error).toEqual({ code: 'NOT_FOUND', message: `execution ${exe} not found`, details: null });
    expect(errors[3]!.error).toEqual({ code: 'NOT_FOUND', message: `execution ${missingExe} not found`, details: null });
    expect(bob.messages.some((m) => m.op === 'subscribed')).toBe(false);

    // bob's own topic works; alice's activity after this never reaches him.
    const ack = await bob.subscribe(['user:bob']);
    expect(ack.topics).toEqual(['user:bob']);
    const aliceRetry = await s.request('POST', `/v1/executions/${exe}/retry`, { token: aliceToken });
    expect(aliceRetry.status, aliceRetry.text).toBe(201);
    const bobRun = await submit(await s.token('bob', ['runner']), 1);
    await s.engine.coordinator.waitForRun(bobRun.id);
    await waitFor(async () => (await s.engine.store.getExecution(aliceRetry.body.id as string))?.status === 'PASSED', 'the retry');
    await settled(bob);
    const seen = new Set(bob.events().map((m) => m.event!.executionId));
    expect([...seen]).toEqual([bobRun.executionIds[0]]);
    expect(bob.events().every((m) => m.topic === 'user:bob')).toBe(true);
    bob.close();
  });

  it('lets an admin watch anyone’s execution', async () => {
    const run = await submit(await s.token('carol', ['runner']), 1, [{ action: 'sleep', ms: 200 }]);
    const exe = run.executionIds[0]!;
    const admin = await LiveClient.connect(s.wsUrl, { header: await s.token('root', ['admin']) });
    const ack = await admin.subscribe([`execution:${exe}`], 0);
    expect(ack).toMatchObject({ op: 'subscribed', topics: [`execution:${exe}`] });
    await s.engine.coordinator.waitForRun(run.id);
    await settled(admin);
    expect(admin.events(`execution:${exe}`).map((m) => `${m.event!.type} ${m.event!.to ?? m.event!.name}`)).toEqual([
      'transition PENDING',
      'transition RUNNING',
      'step sleep 200 ms',
      'transition PASSED',
    ]);
    const stepMessage = admin.events(`execution:${exe}`)[2]!;
    expect(stepMessage).toEqual({
      topic: `execution:${exe}`,
      cursor: expect.any(Number),
      event: {
        type: 'step',
        executionId: exe,
        runId: expect.toBeOneOf([null, expect.any(String)]),
        attempt: 1,
        index: 0,
        name: 'sleep 200 ms',
        status: 'PASSED',
        startedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        durationMs: expect.any(Number),
      },
    });
    expect((await s.engine.store.listSteps(exe))[0]).toMatchObject({ name: 'sleep 200 ms', status: 'PASSED' });
    admin.close();
  });

  it('stops delivering a topic once unsubscribed', async () => {
    const token = await s.token('dave', ['runner']);
    const ws = await LiveClient.connect(s.wsUrl, { header: token });
    await ws.subscribe(['user:dave']);
    const first = await submit(token, 1);
    await s.engine.coordinator.waitForRun(first.id);
    await settled(ws);
    const before = ws.events('user:dave').length;
    expect(before).toBe(4); // three transitions and the step
    const from = ws.messages.length;
    ws.send({ op: 'unsubscribe', topics: ['user:dave'] });
    expect(await ws.next((m) => m.op === 'unsubscribed', 'the unsubscribe answer', from)).toEqual({
      op: 'unsubscribed',
      topics: ['user:dave'],
    });
    const second = await submit(token, 1);
    await s.engine.coordinator.waitForRun(second.id);
    await settled(ws);
    expect(ws.events('user:dave')).toHaveLength(before);
    ws.close();
  });

  it('answers malformed messages with VALIDATION_FAILED and keeps the connection open', async () => {
    const ws = await LiveClient.connect(s.wsUrl, { header: await s.token('erin', ['viewer']) });
    const bad = [
      'not json',
      '[]',
      { op: 'dance' },
      { op: 'subscribe' },
      { op: 'subscribe', topics: 'user:erin' },
      { op: 'subscribe', topics: [] },
      { op: 'subscribe', topics: ['erin'] },
      { op: 'subscribe', topics: ['user:erin'], since: -1 },
      { op: 'subscribe', topics: ['user:erin'], since: 'yesterday' },
      { op: 'subscribe', topics: ['user:erin'], extra: true },
      { op: 'unsubscribe', topics: [42] },
    ];
    for (const message of bad) ws.send(message);
    ws.socket.send(Buffer.from('{"op":"subscribe","topics":["user:erin"]}'), { binary: true });
    await waitFor(() => ws.messages.length === bad.length + 1, 'an answer to each message');
    for (const m of ws.messages) {
      expect(m.op).toBe('error');
      expect(m.error!.code).toBe('VALIDATION_FAILED');
      expect(typeof m.error!.message).toBe('string');
    }
    expect(ws.closed).toBeNull();
    expect(await ws.subscribe(['user:erin'])).toMatchObject({ op: 'subscribed', topics: ['user:erin'] });
    ws.close();
  });

  it('sends heartbeats carrying the newest published cursor', async () => {
    const token = await s.token('frank', ['runner']);
    const ws = await LiveClient.connect(s.wsUrl, { header: token });
    await ws.next((m) => m.op === 'heartbeat', 'a first heartbeat');
    const run = await submit(token, 2);
    await s.engine.coordinator.waitForRun(run.id);
    const newest = await newestStored();
    const beat = await ws.next((m) => m.op === 'heartbeat' && m.cursor === newest, 'a heartbeat at the newest cursor');
    expect(beat).toEqual({ op: 'heartbeat', cursor: newest });
    expect(ws.messages.filter((m) => m.op === 'heartbeat').length).toBeGreaterThanOrEqual(2);
    ws.close();
  });
});

describe('live channel: replay with since', () => {
  it('replays exactly what a dropped client missed, then continues live without gap or duplicate', async () => {
    const token = await s.token('gina', ['runner']);
    const first = await LiveClient.connect(s.wsUrl, { header: token });
    const ack = await first.subscribe(['user:gina']);
    const run = await submit(token, 30, [{ action: 'sleep', ms: 5 }]);
    await waitFor(() => first.events('user:gina').length >= 10, 'some events');
    first.socket.terminate();
    await first.waitClosed();
    const received = first.events('user:gina');
    const last = received.at(-1)!.cursor!;

    const second = await LiveClient.connect(s.wsUrl, { header: token });
    const resumed = await second.subscribe(['user:gina'], last);
    expect(resumed.op).toBe('subscribed');
    await s.engine.coordinator.waitForRun(run.id);
    await settled(second);

    const stored = await storedSince(ack.cursor!);
    const expected = expectedOn('user:gina', stored, await ownersOf(stored));
    const all = [...receivedOn(received, 'user:gina'), ...receivedOn(second.messages, 'user:gina')];
    expect(all).toEqual(expected);
    expect(expected).toHaveLength(30 * 4);
    second.close();
  });

  it('replays a finished run from the beginning and acknowledges at the newest cursor', async () => {
    const token = await s.token('hank', ['runner']);
    const before = await newestStored();
    const run = await submit(token, 3);
    await s.engine.coordinator.waitForRun(run.id);
    const ws = await LiveClient.connect(s.wsUrl, { header: token });
    const ack = await ws.subscribe([`run:${run.id}`, `execution:${run.executionIds[1]}`], before);
    expect(ack).toEqual({ op: 'subscribed', topics: [`run:${run.id}`, `execution:${run.executionIds[1]}`], cursor: await newestStored() });
    // The replay comes before the acknowledgement.
    expect(ws.messages.at(-1)).toEqual(ack);
    const stored = await storedSince(before);
    const owners = await ownersOf(stored);
    expect(receivedOn(ws.messages, `run:${run.id}`)).toEqual(expectedOn(`run:${run.id}`, stored, owners));
    expect(receivedOn(ws.messages, `execution:${run.executionIds[1]}`)).toEqual(
      expectedOn(`execution:${run.executionIds[1]}`, stored, owners),
    );
    expect(ws.events()).toHaveLength(12 + 4);
    ws.close();
  });

  it('answers a since beyond the newest cursor with reset and subscribes nothing', async () => {
    const ws = await LiveClient.connect(s.wsUrl, { header: await s.token('ivan', ['runner']) });
    const newest = await newestStored();
    const answer = await ws.subscribe(['user:ivan'], newest + 1000);
    expect(answer).toMatchObject({ op: 'reset', topics: ['user:ivan'] });
    const run = await submit(await s.token('ivan', ['runner']), 1);
    await s.engine.coordinator.waitForRun(run.id);
    await settled(ws);
    expect(ws.events()).toEqual([]);
    ws.close();
  });
});

describe('live channel: restart', () => {
  it('keeps cursors across a server restart: a client that resumes on the new server misses nothing', async () => {
    const token = await s.token('kate', ['runner']);
    const ws = await LiveClient.connect(s.wsUrl, { header: token });
    const ack = await ws.subscribe(['user:kate']);
    const first = await submit(token, 2);
    await s.engine.coordinator.waitForRun(first.id);
    await settled(ws);
    const last = ws.events('user:kate').at(-1)!.cursor!;
    ws.close();
    const second = await submit(token, 2);
    await s.engine.coordinator.waitForRun(second.id);

    // A new server over the same store starts publishing at the newest stored cursor.
    const restarted = await startServer({ engine: s.engine, config: s.config, logger: createLogger('silent'), port: 0, host: '127.0.0.1' });
    try {
      const again = await LiveClient.connect(`ws://127.0.0.1:${restarted.port}`, { header: token });
      const resumed = await again.subscribe(['user:kate'], last);
      expect(resumed).toEqual({ op: 'subscribed', topics: ['user:kate'], cursor: await newestStored() });
      const stored = await storedSince(ack.cursor!);
      const expected = expectedOn('user:kate', stored, await ownersOf(stored));
      expect([...receivedOn(ws.messages, 'user:kate'), ...receivedOn(again.messages, 'user:kate')]).toEqual(expected);
      expect(expected).toHaveLength(4 * 4); // four executions: three transitions and one step each
      again.close();
    } finally {
      await restarted.close(1000);
    }
  });
});

describe('live channel: retention', () => {
  it('answers a since older than the replay window with reset; within it, replays', async () => {
    await using small = await startTestServer({}, {}, { live: { replayWindow: 5 } });
    const token = await small.token('judy', ['runner']);
    const res = await small.request('POST', '/v1/runs', { token, body: { items: [item('a'), item('b'), item('c')] } });
    await small.engine.coordinator.waitForRun(res.body.id as string);
    const stored = await small.engine.store.logSince(0, 1000);
    const newest = stored.at(-1)!.cursor;
    expect(stored.length).toBeGreaterThan(5);

    const ws = await LiveClient.connect(small.wsUrl, { header: token });
    const reset = await ws.subscribe(['user:judy'], newest - 6);
    expect(reset).toEqual({ op: 'reset', topics: ['user:judy'], cursor: newest, reason: expect.any(String) });
    expect(ws.events()).toEqual([]);
    const ack = await ws.subscribe(['user:judy'], newest - 5);
    expect(ack).toEqual({ op: 'subscribed', topics: ['user:judy'], cursor: newest });
    expect(ws.events('user:judy').map((m) => m.cursor)).toEqual(stored.slice(-5).map((e) => e.cursor));
    ws.close();
  });

  it('holds at most maxTopicsPerSocket topics on one connection', async () => {
    await using small = await startTestServer({}, {}, { live: { maxTopicsPerSocket: 2 } });
    const ws = await LiveClient.connect(small.wsUrl, { header: await small.token('root', ['admin']) });
    expect(await ws.subscribe(['user:a', 'user:b'])).toMatchObject({ op: 'subscribed', topics: ['user:a', 'user:b'] });
    const refused = await ws.subscribe(['user:c']);
    expect(refused).toMatchObject({ op: 'error', error: { code: 'VALIDATION_FAILED' } });
    expect(refused.error!.message).toMatch(/at most 2 topics/);
    // Topics already held do not count again.
    expect(await ws.subscribe(['user:a'])).toMatchObject({ op: 'subscribed', topics: ['user:a'] });
    ws.send({ op: 'unsubscribe', topics: ['user:a'] });
    expect(await ws.subscribe(['user:c'])).toMatchObject({ op: 'subscribed', topics: ['user:c'] });
    ws.close();
  });
});
