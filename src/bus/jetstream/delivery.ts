import { nanos, type Msg } from '@nats-io/transport-node';
import type { DeliveryBudget } from '../budget.js';
import type { Delivery } from '../bus.port.js';
import { atTurnEnd } from './turn-end.js';

const encoder = new TextEncoder();
const ACK = encoder.encode('+ACK');
const NAK = encoder.encode('-NAK');
const WORKING = encoder.encode('+WPI');
const TERM = encoder.encode('+TERM');

/** What the server's `$JS.ACK…` reply subject says about one delivery. */
export interface DeliveryInfo {
  deliveryCount: number;
  streamSequence: number;
}

/**
 * Reads the reply subject of a JetStream delivery: `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.…` (9
 * tokens, nats-server 2.9) or the form with domain and account hash in front (11 or 12 tokens).
 */
export function parseDeliveryInfo(reply: string | undefined): DeliveryInfo | null {
  if (!reply) return null;
  const tokens = reply.split('.');
  if (tokens[0] !== '$JS' || tokens[1] !== 'ACK') return null;
  const at = tokens.length === 9 ? 4 : tokens.length >= 11 ? 6 : -1;
  if (at < 0) return null;
  const deliveryCount = Number(tokens[at]);
  const streamSequence = Number(tokens[at + 1]);
  if (!Number.isSafeInteger(deliveryCount) || !Number.isSafeInteger(streamSequence)) return null;
  return { deliveryCount, streamSequence };
}

/**
 * One JetStream delivery as the port sees it. It holds one unit of the consumer's budget from arrival until
 * it is settled or its lease (the consumer's ack wait, extended by `working()`) runs out locally; after
 * that the server redelivers it and this delivery's nak and working are ignored, as in the memory adapter.
 */
export class JetStreamDelivery<T> implements Delivery<T> {
  private state: 'leased' | 'settled' | 'expired' = 'leased';
  private lease: NodeJS.Timeout;

  constructor(
    private readonly msg: Msg,
    readonly data: T,
    private readonly info: DeliveryInfo,
    private readonly budget: DeliveryBudget,
    private readonly ackWaitMs: number,
  ) {
    this.lease = this.arm();
  }

  get deliveryCount(): number {
    return this.info.deliveryCount;
  }

  /** The job's sequence in its stream: the same for every delivery of one published message. */
  get streamSequence(): number {
    return this.info.streamSequence;
  }

  get leased(): boolean {
    return this.state === 'leased';
  }

  ack(): void {
    if (this.state === 'settled') return;
    // A late ack (lease already run out) is still sent: if the server has not redelivered yet it saves a
    // second run; if it has, the server ignores it. The budget unit was given back at expiry.
    this.respond(ACK);
    this.settle();
  }

  nak(delayMs?: number): void {
    if (this.state !== 'leased') return;
    this.respond(delayMs && delayMs > 0 ? encoder.encode(`-NAK ${JSON.stringify({ delay: nanos(delayMs) })}`) : NAK);
    this.settle();
  }

  working(): void {
    if (this.state !== 'leased') return;
    this.respond(WORKING);
    clearTimeout(this.lease);
    this.lease = this.arm();
  }

  /** Tells the server never to deliver this message again (it was dead-lettered or cannot be read). */
  term(): void {
    if (this.state === 'settled') return;
    this.respond(TERM);
    this.settle();
  }

  /**
   * Sent at the end of the turn, with whatever else the turn sends (see atTurnEnd). Acks after the bus closed
   * go nowhere: the server redelivers the message to someone else.
   */
  private respond(payload: Uint8Array): void {
    atTurnEnd(() => {
      try {
        this.msg.respond(payload);
      } catch {
        // closed connection
      }
    });
  }

  private settle(): void {
    const held = this.state === 'leased';
    this.state = 'settled';
    clearTimeout(this.lease);
    if (held) this.budget.release(1);
  }

  private arm(): NodeJS.Timeout {
    const timer = setTimeout(() => {
      if (this.state !== 'leased') return;
      this.state = 'expired';
      this.budget.release(1);
    }, this.ackWaitMs);
    timer.unref();
    return timer;
  }
}
