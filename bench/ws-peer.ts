/**
 * The peer of the live-channel scenarios: a `ws` WebSocketServer that broadcasts event messages the plain way,
 * looping over its clients and sending each one the same string. It sends the very messages the live channel
 * sent in the Troupe round (as one subscriber received them), so the count, order, cursors and sizes are the
 * same; a transition's `"at"` (what the clients time from) is rewritten, same length: in a burst to the send
 * time, when paced to the time the message was due, so a peer that falls behind its schedule shows it as latency
 * (as a transition's `at` in Troupe is when it happened, not when it was published).
 */
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

export interface WsPeer {
  port: number;
  readonly clients: number;
  /**
   * Sends `texts` in order. `intervalMs` null: a burst, one message per turn of the event loop (its writes are
   * flushed as it goes, as the live channel publishes a batch and then yields). Otherwise paced: message i is
   * due `i · intervalMs` after the start and carries that time as its `at`; whatever is due is sent, then the
   * loop sleeps 1 ms.
   */
  broadcast(texts: readonly string[], intervalMs: number | null): Promise<void>;
  close(): Promise<void>;
}

const AT = '"at":"';
const TRANSITION = '"event":{"type":"transition"';

/** The message with its transition `at` set to `epochMs` (a step event has none and goes as it is). */
function stamped(text: string, epochMs: number): string {
  const transition = text.indexOf(TRANSITION);
  if (transition < 0) return text;
  const at = text.indexOf(AT, transition) + AT.length;
  return `${text.slice(0, at)}${new Date(epochMs).toISOString()}${text.slice(at + 24)}`;
}

export async function startWsPeer(): Promise<WsPeer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  const send = (text: string, at: number): void => {
    const message = stamped(text, at);
    for (const client of wss.clients) client.send(message);
  };
  return {
    port: (wss.address() as AddressInfo).port,
    get clients() {
      return wss.clients.size;
    },
    async broadcast(texts, intervalMs) {
      if (intervalMs === null) {
        for (const text of texts) {
          send(text, Date.now());
          await nextTurn();
        }
        return;
      }
      const start = performance.now();
      const startEpoch = performance.timeOrigin + start;
      let i = 0;
      while (i < texts.length) {
        const due = Math.min(texts.length, Math.floor((performance.now() - start) / intervalMs) + 1);
        for (; i < due; i++) send(texts[i] as string, Math.floor(startEpoch + i * intervalMs));
        if (i < texts.length) await sleep(1);
      }
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const client of wss.clients) client.terminate();
        wss.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
