import { randomBytes } from 'node:crypto';
import { JetStreamApiError, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, Empty, headers, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TransitionEvent } from '../src/bus/bus.port.js';
import { JetStreamBus } from '../src/bus/jetstream.bus.js';
import { names } from '../src/bus/jetstream/names.js';
import { StreamPublisher } from '../src/bus/jetstream/publisher.js';
import { TroupeError } from '../src/core/errors.js';
import { startNatsServer, type NatsServerHandle } from './helpers/nats-server.js';
import { sleep, waitFor } from './helpers/wait.js';

/**
 * The JetStream publisher: a window of publishes in flight, each resolved by its own acknowledgement, retried
 * with the same Nats-Msg-Id, in order per key. Most cases put a responder of the test's own on a subject no
 * stream listens to, so the test decides when and how each attempt is answered; the others use real streams.
 */
let server: NatsServerHandle;
const connections: NatsConnection[] = [];
const publishers: StreamPublisher[] = [];

beforeAll(async () => {
  server = await startNatsServer();
});

afterEach(async () => {
  for (const publisher of publishers.splice(0)) publisher.close();
  for (const nc of connections.splice(0)) await nc.close();
});

afterAll(async () => {
  await server?.stop();
});

const subjectName = () => `p${randomBytes(5).toString('hex')}`;
const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

async function open(): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  connections.push(nc);
  return nc;
}

function publisherOn(nc: NatsConnection, options: ConstructorParameters<typeof StreamPublisher>[1] = {}): StreamPublisher {
  const publisher = new StreamPublisher(nc, options);
  publishers.push(publisher);
  return publisher;
}

/** One attempt as the responder saw it. */
interface Attempt {
  msgID: string;
  payload: string;
  reply: string;
  msg: Msg;
}

/** Stands in for a stream on `subject`: records every attempt; the test answers them (or not). */
function responder(nc: NatsConnection, subject: string, answer: (attempt: Attempt, index: number) => 'ack' | 'hold' | 'drop' | 'no-responders' | 'unavailable' | 'refuse') {
  const attempts: Attempt[] = [];
  let seq = 0;
  const ack = (attempt: Attempt) => {
    attempt.msg.respond(bytes(JSON.stringify({ stream: 'FAKE', seq: ++seq })));
  };
  nc.subscribe(subject, {
    callback: (_err, msg) => {
      const attempt: Attempt = { msgID: msg.headers?.get('Nats-Msg-Id') ?? '', payload: text(msg.data), reply: msg.reply ?? '', msg };
      attempts.push(attempt);
      const reply = answer(attempt, attempts.length - 1);
      if (reply === 'ack') ack(attempt);
      else if (reply === 'no-responders') msg.respond(Empty, { headers: headers(503, 'No Responders') });
      else if (reply === 'unavailable') {
        msg.respond(bytes(JSON.stringify({ error: { code: 503, err_code: 10008, description: 'JetStream system temporarily unavailable' } })));
      } else if (reply === 'refuse') {
        msg.respond(bytes(JSON.stringify({ error: { code: 400, err_code: 10054, description: 'maximum messages exceeded' } })));
      }
    },
  });
  return { attempts, ack };
}

/** Settles to 'resolved' or 'rejected'; 'pending' until then. */
function watch<T>(promise: Promise<T>): { readonly state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } {
  const box: { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } = { state: 'pending' };
  promise.then(
    (value) => Object.assign(box, { state: 'resolved', value }),
    (error: unknown) => Object.assign(box, { state: 'rejected', error }),
  );
  return box;
}

describe('StreamPublisher: acknowledgements', () => {
  it('resolves a publish only once its acknowledgement arrives, with that acknowledgement', async () => {
    const nc = await open();
    const subject = subjectName();
    const { attempts, ack } = responder(nc, subject, () => 'hold');
    await nc.flush();
    const publisher = publisherOn(nc);

    const done = watch(publisher.publish(subject, bytes('one'), 'id-1'));
    await waitFor(() => attempts.length === 1, 'the publish reaching the responder');
    await sleep(300);
    expect(done.state).toBe('pending');
    expect(publisher.pending).toBe(1);

    ack(attempts[0]!);
    await waitFor(() => done.state !== 'pending', 'the publish to settle');
    expect(done).toMatchObject({ state: 'resolved', value: { stream: 'FAKE', seq: 1, duplicate: false } });
    expect(attempts[0]).toMatchObject({ msgID: 'id-1', payload: 'one' });
    expect(publisher.pending).toBe(0);
  });

  it('never has more publishes unacknowledged than its window, and sends the rest as acknowledgements come', async () => {
    const nc = await open();
    const subject = subjectName();
    const window = 8;
    let releasing = false;
    let answered = 0;
    let most = 0;
    const { attempts, ack } = responder(nc, subject, (_attempt, index) => {
      most = Math.max(most, index + 1 - answered);
      if (!releasing) return 'hold';
      answered++;
      return 'ack';
    });
    await nc.flush();
    const publisher = publisherOn(nc, { window });

    const all = Array.from({ length: 200 }, (_, i) => publisher.publish(subject, bytes(`m${i}`), `id-${i}`));
    await waitFor(() => attempts.length === window, 'the first window');
    await sleep(300);
    expect(attempts).toHaveLength(window); // the other 192 wait for room
    expect(publisher.sending).toBe(window);
    expect(publisher.pending).toBe(200);

    releasing = true;
    for (const attempt of attempts.slice(0, window)) {
      answered++;
      ack(attempt);
    }
    const acks = await Promise.all(all);
    expect(acks).toHaveLength(200);
    expect(most).toBeLessThanOrEqual(window);
    // In call order, each once.
    expect(attempts.map((a) => a.msgID)).toEqual(Array.from({ length: 200 }, (_, i) => `id-${i}`));
  });

  it('resolves a publish the stream recognises as a duplicate (same Nats-Msg-Id), and stores it once', async () => {
    const nc = await open();
    const jsm = await jetstreamManager(nc);
    const subject = subjectName();
    const stream = subject.toUpperCase();
    await jsm.streams.add({ name: stream, subjects: [`${subject}.>`] });
    const publisher = publisherOn(nc);

    const first = await publisher.publish(`${subject}.a`, bytes('x'), 'same-id');
    const again = await publisher.publish(`${subject}.a`, bytes('x'), 'same-id');
    const both = await Promise.all([publisher.publish(`${subject}.b`, bytes('y'), 'other-id'), publisher.publish(`${subject}.b`, bytes('y'), 'other-id')]);

    expect(first).toMatchObject({ stream, seq: 1, duplicate: false });
    expect(again).toMatchObject({ stream, seq: 1, duplicate: true });
    expect(both.map((a) => a.seq)).toEqual([2, 2]);
    expect(both.filter((a) => a.duplicate)).toHaveLength(1);
    expect((await jsm.streams.info(stream)).state.messages).toBe(2);
    await jsm.streams.delete(stream);
  });
  it('refuses a Nats-Msg-Id that cannot be a header value, and sends nothing', async () => {
    const nc = await open();
    const subject = subjectName();
    const { attempts } = responder(nc, subject, () => 'ack');
    await nc.flush();
    const publisher = publisherOn(nc);
    await expect(publisher.publish(subject, bytes('x'), 'bad\r\nX-Injected: 1')).rejects.toThrow(/CR or LF/);
    await expect(publisher.publish(subject, bytes('x'), 'good')).resolves.toMatchObject({ stream: 'FAKE' });
    expect(attempts.map((a) => a.msgID)).toEqual(['good']);
  });
});

describe('StreamPublisher: retries', () => {
  it('sends an attempt left unanswered again with the same Nats-Msg-Id once its timeout passes', async () => {
    const nc = await open();
    const subject = subjectName();
    const { attempts } = responder(nc, subject, (_a, index) => (index === 0 ? 'drop' : 'ack'));
    await nc.flush();
    const publisher = publisherOn(nc, { retry: { giveUpAfterMs: 10_000, attemptTimeoutMs: 500 }, sweepMs: 20 });

    const started = Date.now();
    const ack = await publisher.publish(subject, bytes('p'), 'retried-id');
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    expect(ack.stream).toBe('FAKE');
    expect(attempts.map((a) => a.msgID)).toEqual(['retried-id', 'retried-id']);
    expect(attempts.map((a) => a.payload)).toEqual(['p', 'p']);
    expect(new Set(attempts.map((a) => a.reply)).size).toBe(2); // attempts are told apart by their reply subject
  });

  it('retries "no responders" and JetStream 503 answers, and rejects a refusal at once without retrying', async () => {
    const nc = await open();
    const [busy, refusing] = [subjectName(), subjectName()];
    const retried = responder(nc, busy, (_a, index) => (['no-responders', 'unavailable'][index] as 'no-responders' | 'unavailable' | undefined) ?? 'ack');
    const refused = responder(nc, refusing, () => 'refuse');
    await nc.flush();
    const publisher = publisherOn(nc);

    await expect(publisher.publish(busy, bytes('b'), 'busy-id')).resolves.toMatchObject({ stream: 'FAKE' });
    expect(retried.attempts.map((a) => a.msgID)).toEqual(['busy-id', 'busy-id', 'busy-id']);

    const error: unknown = await publisher.publish(refusing, bytes('r'), 'refused-id').catch((err: unknown) => err);
    expect(error).toBeInstanceOf(JetStreamApiError);
    expect((error as JetStreamApiError).status).toBe(400);
    await sleep(300);
    expect(refused.attempts).toHaveLength(1);
  });

  it('waits for a stream that does not exist yet (no responders), then completes', async () => {
    const nc = await open();
    const jsm = await jetstreamManager(nc);
    const subject = subjectName();
    const publisher = publisherOn(nc);

    const done = watch(publisher.publish(`${subject}.x`, bytes('late'), 'late-id'));
    await sleep(700);
    expect(done.state).toBe('pending');
    await jsm.streams.add({ name: subject.toUpperCase(), subjects: [`${subject}.>`] });
    await waitFor(() => done.state !== 'pending', 'the publish once the stream exists');
    expect(done).toMatchObject({ state: 'resolved', value: { stream: subject.toUpperCase(), seq: 1 } });
    await jsm.streams.delete(subject.toUpperCase());
  });

  it('rejects with BUS_UNAVAILABLE once its retry budget is spent', async () => {
    const nc = await open();
    const publisher = publisherOn(nc, { retry: { giveUpAfterMs: 1_200, attemptTimeoutMs: 500 }, sweepMs: 20 });
    const started = Date.now();
    const error: unknown = await publisher.publish(subjectName(), bytes('lost'), 'lost-id').catch((err: unknown) => err);
    expect(error).toBeInstanceOf(TroupeError);
    expect((error as TroupeError).code).toBe('BUS_UNAVAILABLE');
    expect((error as TroupeError).message).toContain('lost-id');
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(publisher.pending).toBe(0);
  });

  it('rejects what is pending when closed, and every later publish', async () => {
    const nc = await open();
    const subject = subjectName();
    responder(nc, subject, () => 'hold');
    await nc.flush();
    const publisher = publisherOn(nc, { window: 1 });
    const first = watch(publisher.publish(subject, bytes('1'), 'a', 'k'));
    const second = watch(publisher.publish(subject, bytes('2'), 'b', 'k')); // behind the first of its key
    const third = watch(publisher.publish(subject, bytes('3'), 'c')); // waiting for the window
    await sleep(100);
    publisher.close();
    await waitFor(() => [first, second, third].every((p) => p.state === 'rejected'), 'all three rejected');
    await expect(publisher.publish(subject, bytes('4'), 'd')).rejects.toThrow(/closed/);
    expect(publisher.pending).toBe(0);
  });
});

describe('StreamPublisher: order per key', () => {
  it('sends the next publish of a key only after the one before it is acknowledged, so a retry is never overtaken', async () => {
    const nc = await open();
    const subject = subjectName();
    // The first attempt of a1 is lost; everything else is answered at once.
    let dropped = 0;
    const { attempts } = responder(nc, subject, (attempt) => (attempt.msgID === 'a1' && !dropped++ ? 'drop' : 'ack'));
    await nc.flush();
    const publisher = publisherOn(nc, { retry: { giveUpAfterMs: 10_000, attemptTimeoutMs: 500 }, sweepMs: 20 });

    await Promise.all([
      publisher.publish(subject, bytes(''), 'a1', 'A'),
      publisher.publish(subject, bytes(''), 'a2', 'A'),
      publisher.publish(subject, bytes(''), 'b1', 'B'),
      publisher.publish(subject, bytes(''), 'a3', 'A'),
      publisher.publish(subject, bytes(''), 'b2', 'B'),
    ]);
    const order = attempts.map((a) => a.msgID);
    // B is not held up by A's retry; a2 and a3 follow a1's second attempt.
    expect(order).toEqual(['a1', 'b1', 'b2', 'a1', 'a2', 'a3']);
  });

  it('keeps every execution’s transitions in order in TROUPE_EVENTS across a nats-server crash mid-stream', async () => {
    const bus = await JetStreamBus.connect({ servers: server.url, prefix: `o${randomBytes(5).toString('hex')}` });
    const executions = 60;
    const perExecution = 6;
    const event = (e: number, seq: number): TransitionEvent => ({
      type: 'transition',
      executionId: `exe_${e}`,
      runId: null,
      seq,
      from: seq === 1 ? null : 'RUNNING',
      to: 'RUNNING',
      event: seq === 1 ? 'CREATE' : 'RESUME',
      at: Date.now(),
      attempt: 1,
      reason: null,
      actor: 'engine',
    });
    try {
      // Rounds of one transition per execution, every 10 ms; the server dies after a third of them and comes
      // back a moment later, so publishes are lost in flight, buffered while disconnected and retried.
      const published: Promise<void>[] = [];
      const crash = (async () => {
        await sleep(20);
        await server.kill();
        await sleep(300);
        await server.restart();
      })();
      for (let seq = 1; seq <= perExecution; seq++) {
        for (let e = 0; e < executions; e++) published.push(bus.publishTransition(event(e, seq)));
        await sleep(10);
      }
      await crash;
      await Promise.all(published);

      const nc = bus.connection;
      const stream = names(bus.prefix).streams.events;
      const consumer = await jetstream(nc).consumers.get(stream);
      const seen = new Map<string, number[]>();
      const messages = await consumer.fetch({ max_messages: executions * perExecution + 10, expires: 2_000 });
      let count = 0;
      for await (const m of messages) {
        const e = m.json<TransitionEvent>();
        seen.set(e.executionId, [...(seen.get(e.executionId) ?? []), e.seq]);
        if (++count === executions * perExecution) break;
      }
      expect(count).toBe(executions * perExecution);
      const expected = Array.from({ length: perExecution }, (_, i) => i + 1);
      for (let e = 0; e < executions; e++) expect(seen.get(`exe_${e}`), `exe_${e}`).toEqual(expected);
    } finally {
      await bus.close();
    }
  });
});
