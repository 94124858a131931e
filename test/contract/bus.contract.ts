import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { DeliveryBudget } from '../../src/bus/budget.js';
import {
  consumeResultBatches,
  type Bus,
  type Consumer,
  type DeadLetter,
  type Delivery,
  type Job,
  type JobConsumerOptions,
  type JobResult,
  type Unsubscribe,
} from '../../src/bus/bus.port.js';
import { makeControl, makeHeartbeat, makeJob, makeResult, makeTransition, poolName } from './bus.fixtures.js';
import { sleep, waitFor } from '../helpers/wait.js';

/** Options every adapter takes; the contract passes short ones so redelivery happens within a test. */
export interface BusTestOptions {
  ackWaitMs: number;
  maxDeliver: number;
  /**
   * Buses opened with the same scope share their streams where the adapter can (a durable adapter's
   * second connection); a fresh scope is an isolated bus. The memory adapter ignores it.
   */
  scope: string;
}

/** What the contract expects of the adapter beyond the port's types. */
export interface BusTraits {
  /** Jobs, results and dead letters outlive the bus object (and its process). */
  durable: boolean;
}

const ACK_WAIT_MS = 200;
const MAX_DELIVER = 3;
/** For tests that count deliveries but are not about redelivery: a lease no stall on a busy machine outlasts. */
const LONG_ACK_WAIT_MS = 5_000;

/** Long enough for any redelivery that was going to happen to have happened: proves an absence. */
const quietPeriod = (ackWaitMs = ACK_WAIT_MS) => sleep(ackWaitMs * 3);

/** Records deliveries of one stream of messages by key, and flags any delivery of a message already acked. */
class Ledger<T> {
  readonly deliveries: { key: string; count: number; data: T; by: string }[] = [];
  readonly acks = new Map<string, number>();
  readonly afterAck: string[] = [];

  constructor(private readonly keyOf: (data: T) => string) {}

  record(delivery: Delivery<T>, by = 'consumer'): string {
    const key = this.keyOf(delivery.data);
    if (this.acks.has(key)) this.afterAck.push(key);
    this.deliveries.push({ key, count: delivery.deliveryCount, data: delivery.data, by });
    return key;
  }

  ack(delivery: Delivery<T>): void {
    const key = this.keyOf(delivery.data);
    this.acks.set(key, (this.acks.get(key) ?? 0) + 1);
    delivery.ack();
  }

  counts(key: string): number[] {
    return this.deliveries.filter((d) => d.key === key).map((d) => d.count);
  }

  ackedAll(keys: string[]): boolean {
    return keys.every((k) => this.acks.has(k));
  }
}

const jobLedger = () => new Ledger<Job>((job) => job.jobId);
const resultLedger = () => new Ledger<JobResult>((result) => result.jobId);

const newScope = () => `s${randomBytes(5).toString('hex')}`;

/**
 * The bus port's contract: jobs, results and dead letters at-least-once with ack, lease and redelivery;
 * dead letters after `maxDeliver`; in-flight bounded per consumer or by a shared budget; pools with
 * requirements; transitions, control messages and heartbeats fanned out. Every adapter runs it:
 * `busContract('memory', async (options) => new MemoryBus(options), { durable: false })`.
 */
export function busContract(name: string, open: (options: BusTestOptions) => Promise<Bus>, traits: BusTraits): void {
  describe(`Bus contract: ${name}`, () => {
    const buses: Bus[] = [];
    const consumers: Consumer[] = [];
    const subscriptions: Unsubscribe[] = [];

    afterEach(async () => {
      for (const unsubscribe of subscriptions.splice(0)) unsubscribe();
      for (const consumer of consumers.splice(0)) await consumer.stop().catch(() => undefined);
      for (const bus of buses.splice(0)) await bus.close();
    });

    async function openBus(options: Partial<BusTestOptions> = {}): Promise<Bus> {
      const bus = await open({ ackWaitMs: ACK_WAIT_MS, maxDeliver: MAX_DELIVER, scope: newScope(), ...options });
      buses.push(bus);
      return bus;
    }
    function consume(
      bus: Bus,
      pool: string,
      handler: (d: Delivery<Job>) => void,
      limit: number | JobConsumerOptions = 16,
    ): Consumer {
      const consumer = bus.consumeJobs(pool, handler, typeof limit === 'number' ? { maxInFlight: limit } : limit);
      consumers.push(consumer);
      return consumer;
    }
    function consumeResults(bus: Bus, handler: (d: Delivery<JobResult>) => void): Consumer {
      const consumer = bus.consumeResults(handler);
      consumers.push(consumer);
      return consumer;
    }
    /** Consumes dead letters, acking each; returns what arrived. */
    function deadLetters(bus: Bus): DeadLetter[] {
      const letters: DeadLetter[] = [];
      const consumer = bus.consumeDeadLetters((d) => {
        letters.push(d.data);
        d.ack();
      });
      consumers.push(consumer);
      return letters;
    }
    /** Publishes a job and nak's it until the bus dead-letters it. */
    async function poison(bus: Bus, pool: string): Promise<Job> {
      const job = makeJob(pool, 7);
      consume(bus, pool, (d) => d.nak());
      await bus.publishJob(job);
      return job;
    }
    async function publishJobs(bus: Bus, pool: string, n: number): Promise<Job[]> {
      const jobs = Array.from({ length: n }, (_, i) => makeJob(pool, i));
      for (const job of jobs) await bus.publishJob(job);
      return jobs;
    }

    describe('jobs', () => {
      it('delivers every published job intact, first with deliveryCount 1, and never again once acked', async () => {
        const bus = await openBus();
        const pool = poolName();
        const ledger = jobLedger();
        consume(bus, pool, (d) => {
          ledger.record(d);
          // Settle some synchronously and some later: both are ordinary.
          if (d.data.attempt === 2) setTimeout(() => ledger.ack(d), 5);
          else ledger.ack(d);
        });
        const jobs = await publishJobs(bus, pool, 25);

        await waitFor(() => ledger.ackedAll(jobs.map((j) => j.jobId)), 'every job acked');
        await quietPeriod();

        expect(ledger.afterAck).toEqual([]);
        for (const job of jobs) {
          const first = ledger.deliveries.find((d) => d.key === job.jobId)!;
          expect(first.data).toEqual(job);
          expect(first.count).toBe(1);
        }
      });

      it('holds jobs published before any consumer and delivers them when one starts', async () => {
        const bus = await openBus();
        const pool = poolName();
        const jobs = await publishJobs(bus, pool, 3);
        const ledger = jobLedger();
        consume(bus, pool, (d) => {
          ledger.record(d);
          ledger.ack(d);
        });
        await waitFor(() => ledger.ackedAll(jobs.map((j) => j.jobId)), 'the held jobs');
        expect(new Set(ledger.deliveries.map((d) => d.key))).toEqual(new Set(jobs.map((j) => j.jobId)));
      });

      it('redelivers a nak’d job with an incremented deliveryCount, also after a nak delay', async () => {
        const bus = await openBus();
        const pool = poolName();
        const ledger = jobLedger();
        consume(bus, pool, (d) => {
          ledger.record(d);
          if (d.deliveryCount < 3) d.nak(d.data.attempt === 2 ? 50 : undefined);
          else ledger.ack(d);
        });
        const [now, later] = await publishJobs(bus, pool, 2);

        await waitFor(() => ledger.ackedAll([now!.jobId, later!.jobId]), 'both jobs acked after two naks');
        await quietPeriod();

        expect(ledger.counts(now!.jobId)).toEqual([1, 2, 3]);
        expect(ledger.counts(later!.jobId)).toEqual([1, 2, 3]);
        expect(ledger.deliveries.filter((d) => d.key === later!.jobId).every((d) => d.data.jobId === later!.jobId)).toBe(
          true,
        );
      });

      it('redelivers a delivery left unsettled once its ack wait passes', async () => {
        const bus = await openBus();
        const pool = poolName();
        const ledger = jobLedger();
        consume(bus, pool, (d) => {
          ledger.record(d);
          if (d.deliveryCount > 1) ledger.ack(d);
        });
        const [job] = await publishJobs(bus, pool, 1);

        await waitFor(() => ledger.ackedAll([job!.jobId]), 'the redelivered job acked');
        await quietPeriod();

        expect(ledger.counts(job!.jobId)).toEqual([1, 2]);
        expect(ledger.deliveries[1]!.data).toEqual(job);
      });

      it('redelivers a job whose handler threw', async () => {
        const bus = await openBus();
        const pool = poolName();
        const ledger = jobLedger();
        consume(bus, pool, (d) => {
          ledger.record(d);
          if (d.deliveryCount === 1) throw new Error('handler bug');
          ledger.ack(d);
        });
        const [job] = await publishJobs(bus, pool, 1);
        await waitFor(() => ledger.ackedAll([job!.jobId]), 'the job acked after the throw');
        expect(ledger.counts(job!.jobId)).toEqual([1, 2]);
      });

      it('does not redeliver a slow job whose consumer keeps calling working()', async () => {
        const ackWaitMs = 500;
        const bus = await openBus({ ackWaitMs });
        const pool = poolName();
        const ledger = jobLedger();
        consume(bus, pool, (d) => {
          ledger.record(d);
          const heartbeat = setInterval(() => d.working(), ackWaitMs / 10);
          // Four ack waits: without working() the job would have been redelivered (see the test above).
          setTimeout(() => {
            clearInterval(heartbeat);
            ledger.ack(d);
          }, ackWaitMs * 4);
        });
        const [job] = await publishJobs(bus, pool, 1);

        await waitFor(() => ledger.ackedAll([job!.jobId]), 'the slow job acked');
        await quietPeriod(ackWaitMs);

        expect(ledger.counts(job!.jobId)).toEqual([1]);
      });

      it('never has more than maxInFlight deliveries unsettled at once', async () => {
        const bus = await openBus({ ackWaitMs: LONG_ACK_WAIT_MS });
        const pool = poolName();
        const ledger = jobLedger();
        const maxInFlight = 3;
        let unsettled = 0;
        let peak = 0;
        consume(
          bus,
          pool,
          (d) => {
            ledger.record(d);
            unsettled++;
            peak = Math.max(peak, unsettled);
            setTimeout(
              () => {
                unsettled--;
                // A nak settles too: jobs numbered …3 take one before they are acked.
                if (d.data.item.labels!.n!.endsWith('3') && d.deliveryCount === 1) d.nak();
                else ledger.ack(d);
              },
              1 + (ledger.deliveries.length % 7),
            );
          },
          maxInFlight,
        );
        const jobs = await publishJobs(bus, pool, 30);

        await waitFor(() => ledger.ackedAll(jobs.map((j) => j.jobId)), 'every job acked');

        expect(peak).toBeLessThanOrEqual(maxInFlight);
        expect(peak).toBeGreaterThan(1);
      });

      it('shares one pool’s jobs between two consumers, each job acked exactly once', async () => {
        const bus = await openBus({ ackWaitMs: LONG_ACK_WAIT_MS });
        const pool = poolName();
        const ledger = jobLedger();
        const handler = (by: string) => (d: Delivery<Job>) => {
          ledger.record(d, by);
          setTimeout(() => ledger.ack(d), 2);
        };
        consume(bus, pool, handler('a'), 2);
        consume(bus, pool, handler('b'), 2);
        const jobs = await publishJobs(bus, pool, 40);

        await waitFor(() => ledger.ackedAll(jobs.map((j) => j.jobId)), 'every job acked');
        await quietPeriod();

        expect([...ledger.acks.values()].every((n) => n === 1)).toBe(true);
        expect(ledger.acks.size).toBe(40);
        expect(ledger.afterAck).toEqual([]);
        expect(ledger.deliveries.some((d) => d.by === 'a')).toBe(true);
        expect(ledger.deliveries.some((d) => d.by === 'b')).toBe(true);
      });

      it('delivers only the consumer’s own pool; other pools’ jobs wait for their own consumer', async () => {
        const bus = await openBus();
        const [mine, theirs] = [poolName('mine'), poolName('theirs')];
        const ledger = jobLedger();
        consume(bus, mine, (d) => {
          ledger.record(d, 'mine');
          ledger.ack(d);
        });
        const other = await publishJobs(bus, theirs, 3);
        const own = await publishJobs(bus, mine, 3);

        await waitFor(() => ledger.ackedAll(own.map((j) => j.jobId)), 'own jobs acked');
        await quietPeriod();
        expect(ledger.deliveries.every((d) => d.data.pool === mine)).toBe(true);

        consume(bus, theirs, (d) => {
          ledger.record(d, 'theirs');
          ledger.ack(d);
        });
        await waitFor(() => ledger.ackedAll(other.map((j) => j.jobId)), 'the other pool’s jobs acked');
        expect(ledger.deliveries.filter((d) => d.by === 'theirs').every((d) => d.data.pool === theirs)).toBe(true);
      });

      it('dead-letters a job nak’d maxDeliver times, with its delivery count, and delivers it no more', async () => {
        const bus = await openBus();
        const pool = poolName();
        const letters = deadLetters(bus);
        const ledger = jobLedger();
        consume(bus, pool, (d) => {
          ledger.record(d);
          if (d.data.attempt === 1) d.nak();
          else ledger.ack(d);
        });
        const before = Date.now();
        const [poisoned, fine] = await publishJobs(bus, pool, 2);

        await waitFor(() => letters.length > 0 && ledger.ackedAll([fine!.jobId]), 'a dead letter');
        await quietPeriod();

        expect(letters).toHaveLength(1);
        expect(letters[0]).toMatchObject({ job: poisoned, deliveries: MAX_DELIVER });
        expect(letters[0]!.deadAt).toBeGreaterThanOrEqual(before);
        expect(letters[0]!.deadAt).toBeLessThanOrEqual(Date.now());
        expect(letters[0]!.reason).toEqual(expect.any(String));
        expect(letters[0]!.reason).not.toBe('');
        expect(ledger.counts(poisoned!.jobId)).toEqual([1, 2, 3]);
        expect(ledger.counts(fine!.jobId)).toEqual([1]);
      });

      it('dead-letters a job whose leases expired maxDeliver times', async () => {
        // Needs a consumer: an adapter may decide on dead-lettering when it sees the next delivery.
        const bus = await openBus();
        const pool = poolName();
        const letters = deadLetters(bus);
        const ledger = jobLedger();
        consume(bus, pool, (d) => void ledger.record(d));
        const [job] = await publishJobs(bus, pool, 1);

        await waitFor(() => letters.length > 0, 'a dead letter');
        await quietPeriod();

        expect(letters).toHaveLength(1);
        expect(letters[0]).toMatchObject({ job, deliveries: MAX_DELIVER });
        expect(ledger.counts(job!.jobId)).toEqual([1, 2, 3]);
      });

      it('a stopped consumer gets nothing more; its unsettled job goes to another consumer', async () => {
        const bus = await openBus();
        const pool = poolName();
        const ledger = jobLedger();
        const first = consume(bus, pool, (d) => void ledger.record(d, 'first'));
        const [held] = await publishJobs(bus, pool, 1);
        await waitFor(() => ledger.deliveries.length === 1, 'the first delivery');
        await first.stop();
        const [later] = await publishJobs(bus, pool, 1);

        consume(bus, pool, (d) => {
          ledger.record(d, 'second');
          ledger.ack(d);
        });

        await waitFor(() => ledger.ackedAll([held!.jobId, later!.jobId]), 'both jobs acked by the second consumer');
        expect(ledger.deliveries.filter((d) => d.by === 'first').map((d) => d.key)).toEqual([held!.jobId]);
        expect(ledger.counts(held!.jobId)).toEqual([1, 2]);
        expect(ledger.counts(later!.jobId)).toEqual([1]);
      });

      it('stopping a consumer twice stops only that consumer', async () => {
        const bus = await openBus();
        const pool = poolName();
        const ledger = jobLedger();
        const first = consume(bus, pool, (d) => void ledger.record(d, 'first'));
        consume(bus, pool, (d) => {
          ledger.record(d, 'second');
          ledger.ack(d);
        });
        await first.stop();
        await first.stop();
        const jobs = await publishJobs(bus, pool, 5);

        await waitFor(() => ledger.ackedAll(jobs.map((j) => j.jobId)), 'the jobs acked by the second consumer', 5_000);
        expect(ledger.deliveries.every((d) => d.by === 'second')).toBe(true);
      });

      it('never has more deliveries unsettled than a budget shared by consumers of two pools, and both progress', async () => {
        const bus = await openBus({ ackWaitMs: LONG_ACK_WAIT_MS });
        const [left, right] = [poolName('left'), poolName('right')];
        const budget = new DeliveryBudget(3);
        const ledger = jobLedger();
        let unsettled = 0;
        let peak = 0;
        const handler = (by: string) => (d: Delivery<Job>) => {
          ledger.record(d, by);
          unsettled++;
          peak = Math.max(peak, unsettled);
          setTimeout(
            () => {
              unsettled--;
              ledger.ack(d);
            },
            2 + (ledger.deliveries.length % 5),
          );
        };
        const both = [consume(bus, left, handler(left), { budget }), consume(bus, right, handler(right), { budget })];
        const jobs = [...(await publishJobs(bus, left, 15)), ...(await publishJobs(bus, right, 15))];

        await waitFor(() => ledger.ackedAll(jobs.map((j) => j.jobId)), 'every job of both pools acked');

        expect(peak).toBeLessThanOrEqual(3);
        expect(peak).toBeGreaterThan(1);
        expect(ledger.deliveries.every((d) => d.by === d.data.pool)).toBe(true);
        // Everything settled and both consumers stopped: every unit is back.
        for (const consumer of both) await consumer.stop();
        expect(budget.free).toBe(3);
      });

      it('a consumer of an idle pool does not starve a busy pool sharing its budget', async () => {
        const bus = await openBus({ ackWaitMs: LONG_ACK_WAIT_MS });
        const [idle, busy] = [poolName('idle'), poolName('busy')];
        const budget = new DeliveryBudget(2);
        const ledger = jobLedger();
        consume(bus, idle, (d) => ledger.ack(d), { budget });
        consume(
          bus,
          busy,
          (d) => {
            ledger.record(d);
            setTimeout(() => ledger.ack(d), 1);
          },
          { budget },
        );
        const jobs = await publishJobs(bus, busy, 10);

        await waitFor(() => ledger.ackedAll(jobs.map((j) => j.jobId)), 'the busy pool’s jobs acked');
        expect(ledger.deliveries).toHaveLength(10);
      });

      it('gives a delivery’s slot back when its lease runs out: a hung job does not block the next one', async () => {
        const bus = await openBus();
        const pool = poolName();
        const ledger = jobLedger();
        const [hung, next] = [makeJob(pool, 0), makeJob(pool, 1)];
        consume(
          bus,
          pool,
          (d) => {
            ledger.record(d);
            // The first delivery of `hung` is never settled; the only slot must come back when its lease ends.
            if (d.data.jobId !== hung.jobId || d.deliveryCount > 1) ledger.ack(d);
          },
          1,
        );
        await bus.publishJob(hung);
        await waitFor(() => ledger.deliveries.length === 1, 'the hung delivery');
        await bus.publishJob(next);

        await waitFor(() => ledger.ackedAll([hung.jobId, next.jobId]), 'both jobs acked through one slot');
        expect(ledger.counts(hung.jobId)).toEqual([1, 2]);
        expect(ledger.counts(next.jobId)).toEqual([1]);
      });

      it('rejects a pool name that is not one subject token', async () => {
        const bus = await openBus();
        for (const bad of ['', 'a.b', 'a b', 'a*', '>', 'x'.repeat(65)]) {
          await expect(bus.publishJob(makeJob(bad))).rejects.toThrow(/pool/);
          await expect(bus.declarePool(bad, {})).rejects.toThrow(/pool/);
          expect(() => bus.consumeJobs(bad, () => undefined, { maxInFlight: 1 })).toThrow(/pool/);
        }
      });
    });

    describe('pools', () => {
      it('lists declared pools with their requirements; declaring again replaces them', async () => {
        const bus = await openBus();
        const [gpu, arm] = [poolName('gpu'), poolName('arm')];
        await bus.declarePool(gpu, { gpu: 'true', os: 'linux' });
        await bus.declarePool(arm, { arch: 'arm64' });
        await bus.declarePool(arm, { arch: 'arm64' });

        expect(await bus.listPools()).toEqual(
          [
            { pool: gpu, requires: { gpu: 'true', os: 'linux' } },
            { pool: arm, requires: { arch: 'arm64' } },
          ].sort((a, b) => a.pool.localeCompare(b.pool)),
        );

        await bus.declarePool(gpu, { gpu: 'false' });
        expect((await bus.listPools()).find((p) => p.pool === gpu)).toEqual({ pool: gpu, requires: { gpu: 'false' } });
      });

      it('lists a pool that was only consumed as requiring nothing, and consuming keeps a declared pool’s requirements', async () => {
        const bus = await openBus();
        const [plain, declared] = [poolName('plain'), poolName('declared')];
        await bus.declarePool(declared, { os: 'mac' });
        const ledger = jobLedger();
        consume(bus, plain, (d) => ledger.ack(d));
        consume(bus, declared, (d) => ledger.ack(d));
        const jobs = [...(await publishJobs(bus, plain, 1)), ...(await publishJobs(bus, declared, 1))];
        await waitFor(() => ledger.ackedAll(jobs.map((j) => j.jobId)), 'a job of each pool acked');

        const pools = await bus.listPools();
        expect(pools.find((p) => p.pool === plain)).toEqual({ pool: plain, requires: {} });
        expect(pools.find((p) => p.pool === declared)).toEqual({ pool: declared, requires: { os: 'mac' } });
      });

      it('delivers jobs of a declared pool like any other', async () => {
        const bus = await openBus();
        const pool = poolName();
        await bus.declarePool(pool, { os: 'linux' });
        const jobs = await publishJobs(bus, pool, 3);
        const ledger = jobLedger();
        consume(bus, pool, (d) => {
          ledger.record(d);
          ledger.ack(d);
        });
        await waitFor(() => ledger.ackedAll(jobs.map((j) => j.jobId)), 'the declared pool’s jobs');
        expect(ledger.deliveries.map((d) => d.data)).toEqual(jobs);
      });
    });

    describe('dead letters', () => {
      it('redelivers a dead letter that was not acked, until it is', async () => {
        const bus = await openBus();
        const pool = poolName();
        const seen: { jobId: string; count: number }[] = [];
        consumers.push(
          bus.consumeDeadLetters((d) => {
            seen.push({ jobId: d.data.job.jobId, count: d.deliveryCount });
            if (d.deliveryCount === 1) throw new Error('the coordinator failed to record it');
            if (d.deliveryCount === 2) d.nak();
            else d.ack();
          }),
        );
        const job = await poison(bus, pool);

        await waitFor(() => seen.length >= 3, 'the letter three times');
        await quietPeriod();
        expect(seen).toEqual([1, 2, 3].map((count) => ({ jobId: job.jobId, count })));
      });

      it('keeps dead letters listed, oldest first, acked or not, until one is removed', async () => {
        const bus = await openBus();
        const letters = deadLetters(bus);
        const [first, second] = [await poison(bus, poolName()), await poison(bus, poolName())];
        await waitFor(() => letters.length === 2, 'both dead letters consumed and acked');
        // Oldest first: both were poisoned concurrently, so the order is the order they died in.
        const order = letters.map((l) => l.job.jobId);

        const listed = await bus.listDeadLetters();
        expect(listed.map((l) => l.job.jobId)).toEqual(order);
        expect(listed.find((l) => l.job.jobId === first.jobId)).toMatchObject({ job: first, deliveries: MAX_DELIVER });
        expect(listed.every((l) => typeof l.deadAt === 'number' && l.reason.length > 0)).toBe(true);

        expect(await bus.removeDeadLetter(first.jobId)).toBe(true);
        expect(await bus.removeDeadLetter(first.jobId)).toBe(false);
        expect(await bus.removeDeadLetter('job_none')).toBe(false);
        expect((await bus.listDeadLetters()).map((l) => l.job.jobId)).toEqual([second.jobId]);
      });

      it('a dead letter removed before anyone consumed it is not delivered', async () => {
        const bus = await openBus();
        const job = await poison(bus, poolName());
        await waitFor(async () => (await bus.listDeadLetters()).length === 1, 'the dead letter held');
        expect(await bus.removeDeadLetter(job.jobId)).toBe(true);

        const letters = deadLetters(bus);
        await quietPeriod();
        expect(letters).toEqual([]);
        expect(await bus.listDeadLetters()).toEqual([]);
      });
    });

    describe('durability', () => {
      it(`is ${traits.durable ? 'durable: jobs, results and dead letters outlive the bus object' : 'not durable'}`, async () => {
        const scope = newScope();
        const first = await openBus({ scope });
        expect(first.durable).toBe(traits.durable);
        if (!traits.durable) return;

        const pool = poolName();
        const dead = await poison(first, poolName());
        await waitFor(async () => (await first.listDeadLetters()).length === 1, 'a dead letter');
        const [job] = await publishJobs(first, pool, 1);
        const result = makeResult(3);
        await first.publishResult(result);
        await first.close();

        const second = await openBus({ scope });
        const jobs = jobLedger();
        const results = resultLedger();
        consume(second, pool, (d) => {
          jobs.record(d);
          jobs.ack(d);
        });
        consumeResults(second, (d) => {
          results.record(d);
          results.ack(d);
        });
        const letters = deadLetters(second);
        await waitFor(
          () => jobs.ackedAll([job!.jobId]) && results.ackedAll([result.jobId]) && letters.length === 1,
          'the job, the result and the dead letter from the closed bus',
        );
        expect(jobs.deliveries[0]!.data).toEqual(job);
        expect(results.deliveries[0]!.data).toEqual(result);
        expect(letters[0]!.job).toEqual(dead);
      });
    });

    describe('results', () => {
      it('delivers results at least once: acked ones never again, nak’d and unsettled ones again', async () => {
        const bus = await openBus();
        const [acked, nakked, ignored] = [makeResult(0), makeResult(1), makeResult(2)];
        for (const r of [acked, nakked, ignored]) await bus.publishResult(r);
        const ledger = resultLedger();
        consumeResults(bus, (d) => {
          const key = ledger.record(d);
          if (d.deliveryCount > 1 || key === acked.jobId) ledger.ack(d);
          else if (key === nakked.jobId) d.nak();
        });

        await waitFor(() => ledger.ackedAll([acked.jobId, nakked.jobId, ignored.jobId]), 'every result acked');
        await quietPeriod();

        expect(ledger.counts(acked.jobId)).toEqual([1]);
        expect(ledger.counts(nakked.jobId)).toEqual([1, 2]);
        expect(ledger.counts(ignored.jobId)).toEqual([1, 2]);
        expect(ledger.deliveries.find((d) => d.key === nakked.jobId)!.data).toEqual(nakked);
      });

      it('never dead-letters a result: one nak’d beyond maxDeliver still comes back', async () => {
        const bus = await openBus();
        const letters = deadLetters(bus);
        const result = makeResult(1);
        const ledger = resultLedger();
        consumeResults(bus, (d) => {
          ledger.record(d);
          if (d.deliveryCount <= MAX_DELIVER + 1) d.nak();
          else ledger.ack(d);
        });
        await bus.publishResult(result);

        await waitFor(() => ledger.ackedAll([result.jobId]), 'the result acked');
        expect(ledger.counts(result.jobId)).toEqual([1, 2, 3, 4, 5]);
        expect(letters).toEqual([]);
      });
    });

    describe('results in batches', () => {
      it('hands results over in batches of at most maxBatch, each settled on its own (consumeResultBatches)', async () => {
        const bus = await openBus();
        const results = Array.from({ length: 40 }, (_, i) => makeResult(i));
        for (const r of results) await bus.publishResult(r);
        const nakked = results[3]!.jobId;
        const ledger = resultLedger();
        const sizes: number[] = [];
        consumers.push(
          consumeResultBatches(
            bus,
            (batch) => {
              sizes.push(batch.length);
              for (const d of batch) {
                const key = ledger.record(d);
                if (key === nakked && d.deliveryCount === 1) d.nak();
                else ledger.ack(d);
              }
            },
            { maxBatch: 8 },
          ),
        );

        await waitFor(() => ledger.ackedAll(results.map((r) => r.jobId)), 'every result acked');
        await quietPeriod();
        expect(Math.max(...sizes)).toBeLessThanOrEqual(8);
        expect(ledger.afterAck).toEqual([]);
        expect(ledger.counts(nakked)).toEqual([1, 2]);
        expect(ledger.deliveries).toHaveLength(41);
        // An adapter with a batch form of its own batches what arrived together (all 40 were waiting).
        if (bus.consumeResultBatches) expect(Math.max(...sizes)).toBeGreaterThan(1);
      });
    });

    describe('fan-out', () => {
      /** The three fire-and-forget kinds, driven the same way. */
      const kinds = {
        transitions: {
          make: makeTransition,
          publish: (bus: Bus, m: unknown) => bus.publishTransition(m as ReturnType<typeof makeTransition>),
          subscribe: (bus: Bus, handler: (m: unknown) => void) => bus.subscribeTransitions(handler),
        },
        'control messages': {
          make: makeControl,
          publish: (bus: Bus, m: unknown) => bus.publishControl(m as ReturnType<typeof makeControl>),
          subscribe: (bus: Bus, handler: (m: unknown) => void) => bus.subscribeControl(handler),
        },
        heartbeats: {
          make: makeHeartbeat,
          publish: (bus: Bus, m: unknown) => bus.publishHeartbeat(m as ReturnType<typeof makeHeartbeat>),
          subscribe: (bus: Bus, handler: (m: unknown) => void) => bus.subscribeHeartbeats(handler),
        },
      };

      for (const [kind, { make, publish, subscribe: subscribeTo }] of Object.entries(kinds)) {
        it(`delivers ${kind} to every subscriber in publish order, and not after unsubscribe`, async () => {
          const bus = await openBus();
          const subscribe = (handler: (m: unknown) => void) => {
            const unsubscribe = subscribeTo(bus, handler);
            subscriptions.push(unsubscribe);
            return unsubscribe;
          };
          const [a, b] = [[] as unknown[], [] as unknown[]];
          const stopA = subscribe((m) => a.push(m));
          subscribe((m) => b.push(m));
          const first = Array.from({ length: 5 }, (_, i) => make(i));
          for (const m of first) await publish(bus, m);

          await waitFor(() => a.length === 5 && b.length === 5, 'both subscribers to see five');
          expect(a).toEqual(first);
          expect(b).toEqual(first);

          stopA();
          const more = [make(5), make(6)];
          for (const m of more) await publish(bus, m);
          await waitFor(() => b.length === 7, 'the remaining subscriber to see seven');
          expect(b).toEqual([...first, ...more]);
          expect(a).toEqual(first);
        });

        it(`keeps delivering ${kind} to the others when one subscriber throws`, async () => {
          const bus = await openBus();
          const seen = { thrower: [] as unknown[], other: [] as unknown[] };
          const thrower = (m: unknown) => {
            seen.thrower.push(m);
            throw new Error('subscriber bug');
          };
          const other = (m: unknown) => void seen.other.push(m);
          for (const handler of [thrower, other]) subscriptions.push(subscribeTo(bus, handler));
          const messages = [make(0), make(1), make(2)];
          for (const m of messages) await publish(bus, m);

          await waitFor(() => seen.other.length === 3 && seen.thrower.length === 3, 'both subscribers to see three');
          expect(seen.other).toEqual(messages);
          expect(seen.thrower).toEqual(messages);
        });
      }
    });
  });
}
