import fc from 'fast-check';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite.store.js';
import type { Store, LogEntry } from '../../src/store/store.port.js';
import { item } from '../helpers/engine.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { expectedOn, rawText, receivedOn, type LiveMessage } from './live.helpers.js';

/**
 * A client that drops its connection after given numbers of received events and resumes. It keeps the newest
 * cursor per topic (an event on several of its topics arrives once per topic, all with the event's cursor), so
 * it resubscribes each topic with its own `since`, grouping topics that share one. Whatever arrives on a dropped
 * connection after the drop is not counted: it is what `since` must bring back.
 */
class ResumingClient {
  readonly received: LiveMessage[] = [];
  readonly problems: string[] = [];
  private readonly last = new Map<string, number>();
  private readonly acked = new Set<string>();
  private heartbeat = -1;
  private socket: WebSocket | null = null;
  connections = 0;

  constructor(
    private readonly url: string,
    private readonly token: string,
    readonly topics: string[],
    since: number,
    private readonly drops: number[],
    private readonly how: 'close' | 'terminate',
  ) {
    for (const t of topics) this.last.set(t, since);
  }

  start(): void {
    this.connections++;
    this.acked.clear();
    this.heartbeat = -1;
    let current = true;
    const ws = new WebSocket(`${this.url}/v1/live`, { headers: { authorization: `Bearer ${this.token}` } });
    this.socket = ws;
    ws.on('open', () => {
      const bySince = new Map<number, string[]>();
      for (const [topic, since] of this.last) bySince.set(since, [...(bySince.get(since) ?? []), topic]);
      for (const [since, topics] of bySince) ws.send(JSON.stringify({ op: 'subscribe', topics, since }));
    });
    ws.on('message', (data) => {
      if (!current) return;
      const m = JSON.parse(rawText(data)) as LiveMessage;
      if (m.op === 'subscribed') {
        for (const t of m.topics!) {
          this.acked.add(t);
          this.last.set(t, Math.max(this.last.get(t)!, m.cursor!));
        }
      } else if (m.op === 'heartbeat') {
        // Everything published before the heartbeat on a live topic came before it.
        for (const t of this.acked) this.last.set(t, Math.max(this.last.get(t)!, m.cursor!));
        if (this.acked.size === this.topics.length) this.heartbeat = m.cursor!;
      } else if (m.event) {
        this.received.push(m);
        this.last.set(m.topic!, m.cursor!);
        if (this.drops.length > 0 && this.received.length >= this.drops[0]!) {
          this.drops.shift();
          current = false;
          if (this.how === 'close') ws.close();
          else ws.terminate();
          this.start();
        }
      } else this.problems.push(JSON.stringify(m));
    });
    ws.on('error', (err) => this.problems.push(err.message));
    ws.on('close', (code) => {
      if (current) this.problems.push(`closed by the server: ${code}`);
    });
  }

  /** Live on every topic on its current connection, with nothing at or before `cursor` still on the way. */
  caughtUp(cursor: number): boolean {
    return this.heartbeat >= cursor;
  }

  stop(): void {
    this.socket?.terminate();
  }
}

/** `store` with `logSince` answering a macrotask later. */
function slowEventLog(store: Store): Store {
  return new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      if (prop !== 'logSince') return (...args: unknown[]) => (value as (...a: unknown[]) => unknown).apply(target, args);
      return async (cursor: number, limit: number) => {
        const events = await target.logSince(cursor, limit);
        await new Promise((resolve) => setImmediate(resolve));
        return events;
      };
    },
  });
}

let s: TestServer;
beforeAll(async () => {
  // Event-log reads that take a turn of the event loop (as with a networked store) and small pages: the hub
  // publishes while replays are under way, which is where a gap or a duplicate would come from.
  s = await startTestServer({ WEBSOCKET_HEARTBEAT_INTERVAL: '1' }, { store: slowEventLog(new SqliteStore({ file: ':memory:' })) }, { live: { batchSize: 16 } });
});
afterAll(async () => {
  await s?.[Symbol.asyncDispose]();
});

async function newest(): Promise<number> {
  return (await s.engine.store.logSince(0, 10_000_000)).at(-1)?.cursor ?? 0;
}

async function ownersOf(events: LogEntry[]): Promise<Map<string, string>> {
  const owners = new Map<string, string>();
  for (const e of events) {
    if (!owners.has(e.executionId)) owners.set(e.executionId, (await s.engine.store.getExecution(e.executionId))!.owner);
  }
  return owners;
}

const step = fc.oneof(
  fc.constant({ action: 'noop' }),
  fc.integer({ min: 0, max: 3 }).map((ms) => ({ action: 'sleep', ms })),
);
const clientPlan = fc.record({
  admin: fc.boolean(),
  // Indices into the topics of the iteration (see below); the owner's user topic when none applies.
  topics: fc.subarray([0, 1, 2, 3, 4, 5], { minLength: 1 }),
  // Drop after this many events received in total (sorted); points past the end are never reached.
  drops: fc.uniqueArray(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 5 }).map((d) => d.sort((a, b) => a - b)),
  how: fc.constantFrom('close' as const, 'terminate' as const),
});

describe('live channel: resume property', () => {
  let iteration = 0;

  it('every client that drops and resumes with since receives each event of its topics exactly once, in order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 200, maxLength: 200 }), fc.array(clientPlan, { minLength: 2, maxLength: 4 }), async (steps, plans) => {
        iteration++;
        const owner = `pat${iteration}`;
        const other = `quinn${iteration}`;
        const ownerToken = await s.token(owner, ['runner']);
        const adminToken = await s.token(`admin${iteration}`, ['admin']);
        const base = await newest();
        const submit = async (token: string, count: number) => {
          const res = await s.request('POST', '/v1/runs', {
            token,
            body: { items: Array.from({ length: count }, (_, i) => item(`item ${i}`, [steps[i % steps.length]])) },
          });
          expect(res.status, res.text).toBe(201);
          return res.body as { id: string; executionIds: string[] };
        };
        const run = await submit(ownerToken, 200);
        const noise = await submit(await s.token(other, ['runner']), 20);
        const topics = [
          `user:${owner}`,
          `run:${run.id}`,
          `execution:${run.executionIds[0]}`,
          `execution:${run.executionIds[199]}`,
          `run:${noise.id}`, // admin only
          `user:${other}`, // admin only
        ];
        const clients = plans.map((plan) => {
          const chosen = plan.topics.filter((i) => plan.admin || i < 4).map((i) => topics[i]!);
          return new ResumingClient(s.wsUrl, plan.admin ? adminToken : ownerToken, chosen.length ? chosen : [topics[0]!], base, [...plan.drops], plan.how);
        });
        for (const c of clients) c.start();
        try {
          expect(await s.engine.coordinator.waitForRun(run.id)).toBe('PASSED');
          await s.engine.coordinator.waitForRun(noise.id);
          const end = await newest();
          await waitFor(() => clients.every((c) => c.caughtUp(end)), 'every client to catch up');

          const stored = await s.engine.store.logSince(base, 10_000_000);
          const owners = await ownersOf(stored);
          for (const c of clients) {
            expect(c.problems).toEqual([]);
            for (const topic of c.topics) {
              const expected = expectedOn(topic, stored, owners);
              expect(expected.length).toBeGreaterThan(0);
              expect(receivedOn(c.received, topic), `${topic} after ${c.connections} connections`).toEqual(expected);
            }
            expect(c.received.every((m) => c.topics.includes(m.topic!))).toBe(true);
          }
        } finally {
          for (const c of clients) c.stop();
        }
      }),
      { numRuns: 8 },
    );
  }, 180_000);
});
