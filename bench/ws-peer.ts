/**
 * The peer of the live-channel scenarios: a `ws` WebSocketServer that broadcasts event messages the plain way,
 * looping over its clients and sending each one the same string. It sends the very messages the live channel
 * sent in the Troupe round (as one subscriber received them), so the count, order, cursors and sizes are the
 * same; a transition's `"at"` is rewritten to the send time (same length), which is what the clients time.
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
   * due `i · intervalMs` after the start; whatever is due is sent, then the loop sleeps 1 ms.
   */
  broadcast(texts: readonly string[], intervalMs: number | null): Promise<void>;
  close(): Promise<void>;
}

const AT = '"at":"';
const TRANSITION = '"event":{"type":"transition"';

/** The message with its transition `at` set to now (a step event has none and goes as it is). */
function stamped(text: string): string {
  if (!text.includes(TRANSITION)) return text;
  const at = text.indexOf(AT, text.indexOf(TRANSITION)) + AT.length;
  return `${text.slice(0, at)}${new Date().toISOString()}${text.slice(at + 24)}`;
}

export async function startWsPeer(): Promise<WsPeer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  const send = (text: string): void => {
    const message = stamped(text);
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
          send(text);
          await nextTurn();
        }
        return;
      }
      const start = performance.now();
      let i = 0;
      while (i < texts.length) {
        const due = Math.min(texts.length, Math.floor((performance.now() - start) / intervalMs) + 1);
        for (; i < due; i++) send(texts[i] as string);
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
