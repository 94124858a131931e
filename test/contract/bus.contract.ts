import { afterEach, describe, expect, it } from 'vitest';
import type { Bus, Consumer, DeadLetter, Delivery, Job, JobResult, Unsubscribe } from '../../src/bus/bus.port.js';
import { makeControl, makeJob, makeResult, makeTransition, poolName } from './bus.fixtures.js';
import { sleep, waitFor } from '../helpers/wait.js';

/** Options every adapter takes; the contract passes short ones so redelivery happens within a test. */
export interface BusTestOptions {
  ackWaitMs: number;
  maxDeliver: number;
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

/**
 * The bus port's contract: jobs and results at-least-once with ack, lease and redelivery; dead letters after
 * `maxDeliver`; transitions and control messages fanned out. Every adapter runs it:
 * `busContract('memory', async (options) => new MemoryBus(options))`.
 */
export function busContract(name: string, open: (options: BusTestOptions) => Promise<Bus>): void {
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
      const bus = await open({ ackWaitMs: ACK_WAIT_MS, maxDeliver: MAX_DELIVER, ...options });
      buses.push(bus);
      return bus;
    }
    function consume(bus: Bus, pool: string, handler: (d: Delivery<Job>) => void, maxInFlight = 16): Consumer {
      const consumer = bus.consumeJobs(pool, handler, { maxInFlight });
      consumers.push(consumer);
      return consumer;
    }
    function consumeResults(bus: Bus, handler: (d: Delivery<JobResult>) => void): Consumer {
      const consumer = bus.consumeResults(handler);
      consumers.push(consumer);
      return consumer;
    }
    function deadLetters(bus: Bus): DeadLetter[] {
      const letters: DeadLetter[] = [];
      subscriptions.push(bus.subscribeDeadLetters((letter) => letters.push(letter)));
      return letters;
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
        subscriptions.push(
          bus.subscribeDeadLetters(() => {
            throw new Error('a broken dead-letter subscriber');
          }),
        );
        const alsoLetters = deadLetters(bus);
        const ledger = jobLedger();
        consume(bus, pool, (d) => {
          ledger.record(d);
          if (d.data.attempt === 1) d.nak();
          else ledger.ack(d);
        });
        const [poison, fine] = await publishJobs(bus, pool, 2);

        await waitFor(() => letters.length > 0 && ledger.ackedAll([fine!.jobId]), 'a dead letter');
        await quietPeriod();

        expect(letters).toHaveLength(1);
        expect(letters[0]).toMatchObject({ job: poison, deliveries: MAX_DELIVER });
        expect(alsoLetters).toEqual(letters);
        expect(ledger.counts(poison!.jobId)).toEqual([1, 2, 3]);
        expect(ledger.counts(fine!.jobId)).toEqual([1]);
      });

      it('dead-letters a job whose leases expired maxDeliver times', async () => {
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

    describe('fan-out', () => {
      for (const kind of ['transitions', 'control messages'] as const) {
        it(`delivers ${kind} to every subscriber in publish order, and not after unsubscribe`, async () => {
          const bus = await openBus();
          const make = kind === 'transitions' ? makeTransition : makeControl;
          const publish = (m: unknown) =>
            kind === 'transitions'
              ? bus.publishTransition(m as ReturnType<typeof makeTransition>)
              : bus.publishControl(m as ReturnType<typeof makeControl>);
          const subscribe = (handler: (m: unknown) => void) => {
            const unsubscribe = kind === 'transitions' ? bus.subscribeTransitions(handler) : bus.subscribeControl(handler);
            subscriptions.push(unsubscribe);
            return unsubscribe;
          };
          const [a, b] = [[] as unknown[], [] as unknown[]];
          const stopA = subscribe((m) => a.push(m));
          subscribe((m) => b.push(m));
          const first = Array.from({ length: 5 }, (_, i) => make(i));
          for (const m of first) await publish(m);

          await waitFor(() => a.length === 5 && b.length === 5, 'both subscribers to see five');
          expect(a).toEqual(first);
          expect(b).toEqual(first);

          stopA();
          const more = [make(5), make(6)];
          for (const m of more) await publish(m);
          await waitFor(() => b.length === 7, 'the remaining subscriber to see seven');
          expect(b).toEqual([...first, ...more]);
          expect(a).toEqual(first);
        });

        it(`keeps delivering ${kind} to the others when one subscriber throws`, async () => {
          const bus = await openBus();
          const make = kind === 'transitions' ? makeTransition : makeControl;
          const seen = { thrower: [] as unknown[], other: [] as unknown[] };
          const thrower = (m: unknown) => {
            seen.thrower.push(m);
            throw new Error('subscriber bug');
          };
          const other = (m: unknown) => void seen.other.push(m);
          for (const handler of [thrower, other]) {
            subscriptions.push(
              kind === 'transitions' ? bus.subscribeTransitions(handler) : bus.subscribeControl(handler),
            );
          }
          const messages = [make(0), make(1), make(2)];
          for (const m of messages) {
            if (kind === 'transitions') await bus.publishTransition(m as ReturnType<typeof makeTransition>);
            else await bus.publishControl(m as ReturnType<typeof makeControl>);
          }

          await waitFor(() => seen.other.length === 3 && seen.thrower.length === 3, 'both subscribers to see three');
          expect(seen.other).toEqual(messages);
          expect(seen.thrower).toEqual(messages);
        });
      }
    });
  });
}
