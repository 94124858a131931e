import { describe, expect, it } from 'vitest';
import { atTurnEnd } from '../src/bus/jetstream/turn-end.js';

describe('atTurnEnd', () => {
  it('runs the sends of one turn together, in order, after the turn’s own work and its microtasks', async () => {
    const log: string[] = [];
    atTurnEnd(() => log.push('send 1'));
    queueMicrotask(() => {
      log.push('microtask');
      atTurnEnd(() => log.push('send 3'));
    });
    atTurnEnd(() => log.push('send 2'));
    log.push('turn');
    expect(log).toEqual(['turn']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(['turn', 'microtask', 'send 1', 'send 2', 'send 3']);
  });

  it('goes on with the other sends when one throws', async () => {
    const log: string[] = [];
    atTurnEnd(() => {
      throw new Error('closed connection');
    });
    atTurnEnd(() => log.push('after'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(['after']);
  });
});
