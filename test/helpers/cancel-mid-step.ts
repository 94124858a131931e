import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import type { Engine } from '../../src/engine/create-engine.js';
import { ADMIN, item, waitFor } from './engine.js';

/**
 * Cancels an execution while its runner waits in step 1 of three — on a request a local server holds, so the
 * cancel comes when the runner has passed step 0 (RUNNING in the store says only that the job was handed to the
 * pool) — and checks that the steps the runner reported after the cancel are stored: PASSED, CANCELLED, SKIPPED.
 * The engine's pool needs a stop grace long enough for the runner to report.
 */
export async function expectStepsKeptAfterCancel(engine: Engine): Promise<void> {
  const { coordinator, store } = engine;
  let arrived = false;
  const target = createServer(() => (arrived = true));
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(target.address() as AddressInfo).port}/`;
  try {
    const run = await coordinator.submitRun(
      { items: [item('cancelled mid-step', [{ action: 'noop' }, { action: 'http', request: { method: 'GET', url } }, { action: 'noop' }])] },
      ADMIN,
    );
    const id = run.executionIds[0]!;
    await waitFor(() => arrived, 'the runner to wait in step 1');
    await coordinator.command(id, 'CANCEL', ADMIN);
    const steps = await waitFor(async () => {
      const stored = await store.listSteps(id);
      return stored.length === 3 ? stored : null;
    }, 'the steps the runner reported after the cancel');
    expect(steps.map((s) => [s.index, s.status])).toEqual([
      [0, 'PASSED'],
      [1, 'CANCELLED'],
      [2, 'SKIPPED'],
    ]);
    expect((await store.getExecution(id))?.status).toBe('CANCELLED');
  } finally {
    target.closeAllConnections();
    target.close();
  }
}
