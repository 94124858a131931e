import { describe, expect, it } from 'vitest';
import { DeliveryBudget } from '../src/bus/budget.js';
import { MemoryBus } from '../src/bus/memory.bus.js';
import { busContract } from './contract/bus.contract.js';

/** The bus contract against the in-process adapter of embedded mode. */
busContract('memory', (options) => Promise.resolve(new MemoryBus(options)), { durable: false });

describe('DeliveryBudget', () => {
  it('grants no more than is free, and tells listeners when units come back', () => {
    const budget = new DeliveryBudget(3);
    const released: number[] = [];
    const unlisten = budget.onRelease(() => released.push(budget.free));

    expect(budget.take(2)).toBe(2);
    expect(budget.take(5)).toBe(1);
    expect(budget.take(1)).toBe(0);
    expect(budget.free).toBe(0);
    budget.release();
    budget.release(2);
    expect(released).toEqual([1, 3]);
    unlisten();
    budget.take(1);
    budget.release();
    expect(released).toEqual([1, 3]);
  });

  it('refuses to give back more than is held, and a limit below one', () => {
    const budget = new DeliveryBudget(2);
    budget.take(1);
    expect(() => budget.release(2)).toThrow(RangeError);
    expect(() => new DeliveryBudget(0)).toThrow(RangeError);
  });

  it('splits its limit among the consumers that joined it and one still to come', () => {
    const budget = new DeliveryBudget(6);
    expect(budget.fairShare()).toBe(6);
    const leaveA = budget.join();
    expect(budget.fairShare()).toBe(3);
    const leaveB = budget.join();
    expect(budget.fairShare()).toBe(2);
    leaveA();
    leaveA();
    expect(budget.fairShare()).toBe(3);
    leaveB();
    expect(new DeliveryBudget(1).fairShare()).toBe(1);
  });
});
