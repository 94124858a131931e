/**
 * The peer of ws-fanout.bench.ts: a `ws` WebSocketServer that broadcasts event messages the plain way, looping
 * over its clients and sending each one the same string. One event per turn of the event loop, so its writes are
 * flushed as it goes (as the live channel publishes a batch and then yields).
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

export interface WsPeer {
  port: number;
  readonly clients: number;
  /**
   * Sends `count` messages built from `template` (a live-channel event message): message i has the template's
   * cursor + i as its cursor and the send time as its `"at"`, so it is as long as the template.
   */
  broadcast(template: string, count: number): Promise<void>;
  close(): Promise<void>;
}

const AT = '"at":"';
const CURSOR = '"cursor":';

export async function startWsPeer(): Promise<WsPeer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  return {
    port: (wss.address() as AddressInfo).port,
    get clients() {
      return wss.clients.size;
    },
    async broadcast(template, count) {
      const cursor = template.indexOf(CURSOR) + CURSOR.length;
      const cursorEnd = template.indexOf(',', cursor);
      const at = template.indexOf(AT) + AT.length;
      if (cursor < CURSOR.length || cursorEnd < 0 || at < AT.length || at < cursorEnd) throw new Error('not an event message');
      const base = Number(template.slice(cursor, cursorEnd));
      const [head, middle, tail] = [template.slice(0, cursor), template.slice(cursorEnd, at), template.slice(at + 24)];
      for (let i = 0; i < count; i++) {
        const text = `${head}${base + i}${middle}${new Date().toISOString()}${tail}`;
        for (const client of wss.clients) client.send(text);
        await nextTurn();
      }
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const client of wss.clients) client.terminate();
        wss.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
