import { describe, expect, it } from 'vitest';
import { advance } from '../../machines/execution.machine.js';
import { TroupeError } from '../../src/core/errors.js';
import { ADMIN, item, startEngine, waitFor } from '../helpers/engine.js';

/** A second writer changes an execution under a running engine: the engine's write is refused, never applied. */
describe('concurrent writers', () => {
  it('a stale command answers VERSION_CONFLICT, changes nothing, and the actor is rebuilt from the store', async () => {
    // No pool: the execution starts and stays RUNNING (its job is never taken).
    await using t = await startEngine({}, { pool: false });
    const { coordinator, store } = t.engine;
    const run = await coordinator.submitRun({ items: [item('contended', [{ action: 'sleep', ms: 60_000 }])] }, ADMIN);
    const id = run.executionIds[0]!;
    await waitFor(async () => (await store.getExecution(id))?.status === 'RUNNING', 'RUNNING');

    // Another writer (another coordinator) pauses it first.
    const stored = (await store.getExecution(id))!;
    const paused = advance(stored.machine, { type: 'PAUSE', at: Date.now(), actor: 'user:other-node' }, 'RUNNING', 'PAUSED');
    expect(await store.applyTransition({ executionId: id, runId: stored.runId, expectedVersion: stored.version, machine: paused })).toBe('applied');

    // This engine still thinks RUNNING: its CANCEL is written against the old version and refused.
    const err = await coordinator.command(id, 'CANCEL', ADMIN).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TroupeError);
    expect((err as TroupeError).code).toBe('VERSION_CONFLICT');
    const events = await store.listEvents(id);
    expect(events.map((e) => e.to)).toEqual(['PENDING', 'RUNNING', 'PAUSED']);

    // The actor was rebuilt from the store: it now knows PAUSED, and a CANCEL applies from there.
    await waitFor(async () => {
      try {
        return (await coordinator.command(id, 'CANCEL', ADMIN)) === 'CANCELLED';
      } catch {
        return false;
      }
    }, 'the rebuilt actor to accept CANCEL');
    const after = await store.listEvents(id);
    expect(after.map((e) => `${e.seq}:${e.from}->${e.to}`)).toEqual(['1:null->PENDING', '2:PENDING->RUNNING', '3:RUNNING->PAUSED', '4:PAUSED->CANCELLED']);
  });
});
