import { createHmac } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { tempDir, waitFor } from '../helpers/engine.js';
import { HOOK_ENV, github, pushPayload, seedSuite, startReceiver, type Received } from '../helpers/hooks.js';
import { startTestServer, type Client, type Page, type TestServer } from '../helpers/server.js';

/** Run notifications (SPEC §8) to real HTTP receivers: signature, retries with backoff, stored attempts, restarts. */

const SECRET = 'notify-secret-for-tests-0123';
// Retries at once: an execution a pool-less server left RUNNING is retried by the next one (its work was lost).
// The receivers listen on loopback, which notifications may reach only when allowed.
const ENV = { ...HOOK_ENV, TROUPE_NOTIFY_PRIVATE_ADDRESSES: 'true', QUEUE_WORKER_COUNT: '1', EXECUTION_RETRY_DELAY_SECONDS: '0', TROUPE_NOTIFY_MAX_ATTEMPTS: '3', TROUPE_NOTIFY_BACKOFF_MS: '5' };

interface Attempt {
  runId: string;
  attempt: number;
  ok: boolean;
  statusCode: number | null;
  error: string | null;
}

async function notifyingTrigger(client: Client, url: string): Promise<string> {
  const suiteId = await seedSuite(client);
  const res = await client.post('/v1/triggers', { name: 'notified CI', source: 'github', repository: 'acme/shop', events: ['push'], suiteId, notify: { url, secret: SECRET } });
  expect(res.status, res.text).toBe(201);
  return res.body.id as string;
}

async function push(s: TestServer): Promise<string> {
  const res = await github(s, 'push', pushPayload('acme/shop', 'main'));
  expect(res.body.runs).toHaveLength(1);
  return res.body.runs[0] as string;
}

/** Waits until the trigger has `n` notification attempts listed; returns them, newest first. */
async function attempts(client: Client, triggerId: string, n: number): Promise<Attempt[]> {
  return waitFor(async () => {
    const items = (await client.get<Page<Attempt>>(`/v1/triggers/${triggerId}/deliveries`)).body.items;
    return items.length >= n ? items : undefined;
  }, `${n} notification attempts`);
}

/** The receiver's view of a signature: recomputed here with node:crypto, independently of the server's code. */
function verify(request: Received): { t: number; body: unknown } {
  const header = String(request.headers['troupe-signature']);
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  expect(match, header).not.toBeNull();
  const [, t, v1] = match as unknown as [string, string, string];
  expect(createHmac('sha256', SECRET).update(`${t}.${request.body}`).digest('hex')).toBe(v1);
  return { t: Number(t), body: JSON.parse(request.body) };
}

describe('run notifications', () => {
  it('posts the signed report summary once the triggered run ends; the attempt is listed', async () => {
    await using receiver = await startReceiver([200]);
    await using s = await startTestServer(ENV);
    const alice = await s.client('alice');
    const triggerId = await notifyingTrigger(alice, receiver.url);
    const runId = await push(s);
    const [request] = await receiver.waitForRequests(1);
    expect(request!.headers['content-type']).toBe('application/json');
    const { t, body } = verify(request!);
    expect(Math.abs(t - Date.now() / 1000)).toBeLessThan(3600);
    expect(body).toMatchObject({
      run: { id: runId, name: 'notified CI', status: 'PASSED', labels: { source: 'github', repository: 'acme/shop', branch: 'main', event: 'push' } },
      summary: { total: 1, passed: 1, failed: 0, errors: 0, skipped: 0, retried: 0, flaky: 0, durationMs: expect.any(Number) },
      trigger: { id: triggerId, name: 'notified CI' },
    });
    expect(await attempts(alice, triggerId, 1)).toEqual([
      { id: expect.stringMatching(/^ntf_/), runId, attempt: 1, at: expect.any(String), ok: true, statusCode: 200, error: null },
    ]);
    expect(await s.engine.store.pendingNotifications()).toEqual([]);
  });

  it('retries a receiver that fails twice, then answers 200: three attempts, listed newest first', async () => {
    await using receiver = await startReceiver([500, 502, 200]);
    await using s = await startTestServer(ENV);
    const alice = await s.client('alice');
    const triggerId = await notifyingTrigger(alice, receiver.url);
    const runId = await push(s);
    const listed = await attempts(alice, triggerId, 3);
    expect(listed.map((a) => [a.runId, a.attempt, a.ok, a.statusCode])).toEqual([
      [runId, 3, true, 200],
      [runId, 2, false, 502],
      [runId, 1, false, 500],
    ]);
    expect(listed[1]!.error).toMatch(/502/);
    // Every attempt carried the same body, each signed for its own timestamp.
    const bodies = receiver.received.map((r) => verify(r).body);
    expect(bodies).toEqual([bodies[0], bodies[0], bodies[0]]);
  });

  it('a trigger deleted while a retry waits sends nothing more: the notification ends failed', async () => {
    await using receiver = await startReceiver([500, 200]);
    // A backoff long enough that the trigger is surely deleted before the retry is due.
    await using s = await startTestServer({ ...ENV, TROUPE_NOTIFY_BACKOFF_MS: '3000' });
    const alice = await s.client('alice');
    const triggerId = await notifyingTrigger(alice, receiver.url);
    await push(s);
    await attempts(alice, triggerId, 1);
    expect((await alice.del(`/v1/triggers/${triggerId}`)).status).toBe(200);
    await waitFor(async () => (await s.engine.store.pendingNotifications()).length === 0, 'the notification to end');
    expect(receiver.received).toHaveLength(1);
  });

  it('gives up on a receiver that hangs up after TROUPE_NOTIFY_MAX_ATTEMPTS, each attempt listed with its error', async () => {
    // Accepts each connection and drops it at once: a network error on every attempt, from a port that stays ours.
    const hangUp = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => hangUp.listen(0, '127.0.0.1', resolve));
    try {
      await using s = await startTestServer(ENV);
      const alice = await s.client('alice');
      const triggerId = await notifyingTrigger(alice, `http://127.0.0.1:${(hangUp.address() as AddressInfo).port}/hook`);
      await push(s);
      await waitFor(async () => (await s.engine.store.pendingNotifications()).length === 0 && (await s.engine.store.listNotifyAttempts({ triggerId, limit: 10 })).items.length > 0, 'the notification to be given up');
      const listed = (await alice.get<Page<Attempt>>(`/v1/triggers/${triggerId}/deliveries`)).body.items;
      expect(listed.map((a) => a.attempt)).toEqual([3, 2, 1]);
      for (const a of listed) expect(a).toMatchObject({ ok: false, statusCode: null, error: 'ECONNRESET' });
    } finally {
      hangUp.close();
    }
  });

  it('refuses loopback and private receivers by default, named by address or by a host that resolves to one', async () => {
    await using receiver = await startReceiver([200]);
    const { TROUPE_NOTIFY_PRIVATE_ADDRESSES: _allowed, ...defaults } = ENV;
    await using s = await startTestServer(defaults);
    const alice = await s.client('alice');
    const port = new URL(receiver.url).port;
    for (const url of [receiver.url, `http://localhost:${port}/hook`, `http://[::ffff:127.0.0.1]:${port}/hook`]) {
      const triggerId = await notifyingTrigger(alice, url);
      await push(s);
      const listed = await attempts(alice, triggerId, 3);
      for (const a of listed) expect(a, url).toMatchObject({ ok: false, statusCode: null, error: 'EADDRNOTALLOWED' });
      await alice.del(`/v1/triggers/${triggerId}`);
    }
    expect(receiver.received).toEqual([]);
  });
});

describe('run notifications across a restart', () => {
  it('a run still going when the server stops is notified by the next server on the same data dir', async () => {
    await using receiver = await startReceiver([200]);
    const dir = tempDir();
    // No worker pool: the run cannot end before the stop. Closed, not disposed: disposing would remove the data dir.
    const first = await startTestServer(ENV, { pool: false }, {}, dir);
    const triggerId = await notifyingTrigger(await first.client('alice'), receiver.url);
    const runId = await push(first);
    expect((await first.engine.store.pendingNotifications()).map((n) => n.runId)).toEqual([runId]);
    await first.server.close(1000);
    await first.engine.close();
    expect(receiver.received).toEqual([]);

    await using second = await startTestServer(ENV, {}, {}, dir);
    const [request] = await receiver.waitForRequests(1);
    expect(verify(request!).body).toMatchObject({ run: { id: runId, status: 'PASSED' } });
    expect((await attempts(await second.client('alice'), triggerId, 1)).map((a) => [a.attempt, a.ok])).toEqual([[1, true]]);
  });

  it('a notification waiting to be retried when the server stops goes on counting its attempts after the restart', async () => {
    await using receiver = await startReceiver([503, 200]);
    const dir = tempDir();
    // A backoff far longer than the test: the retry is still owed when the first server stops.
    const first = await startTestServer({ ...ENV, TROUPE_NOTIFY_BACKOFF_MS: '600000' }, {}, {}, dir);
    const alice = await first.client('alice');
    const triggerId = await notifyingTrigger(alice, receiver.url);
    await push(first);
    await attempts(alice, triggerId, 1);
    await first.server.close(1000);
    await first.engine.close();

    await using second = await startTestServer(ENV, { pool: false }, {}, dir);
    const listed = await attempts(await second.client('alice'), triggerId, 2);
    expect(listed.map((a) => [a.attempt, a.ok, a.statusCode])).toEqual([[2, true, 200], [1, false, 503]]);
    expect(receiver.received).toHaveLength(2);
  });
});
