import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { TroupeError } from '../../src/core/errors.js';
import { ADMIN, FIXTURE_WORKER, item, startEngine, waitFor } from '../helpers/engine.js';

/** Timers of the execution actors (scheduled start, backoff, queue and pause deadlines) on a simulated clock. */
function simulatedClock(): SimulatedClock {
  const clock = new SimulatedClock();
  clock.set(Date.now());
  return clock;
}

async function statusOf(t: Awaited<ReturnType<typeof startEngine>>, id: string) {
  return (await t.engine.store.getExecution(id))!.status;
}

describe('execution timers on a simulated clock', () => {
  it('a SCHEDULED execution becomes PENDING when its time comes, not before', async () => {
    const clock = simulatedClock();
    await using t = await startEngine({}, { clock });
    const at = new Date(clock.now() + 3_600_000).toISOString();
    const run = await t.engine.coordinator.submitRun({ items: [item('later', [{ action: 'noop' }], { scheduledAt: at })] }, ADMIN);
    const id = run.executionIds[0]!;
    expect(await statusOf(t, id)).toBe('SCHEDULED');
    clock.increment(3_599_999);
    await t.engine.store.flush();
    expect(await statusOf(t, id)).toBe('SCHEDULED');
    clock.increment(1);
    expect(await t.engine.coordinator.waitForRun(run.id)).toBe('PASSED');
    const events = await t.engine.store.listEvents(id);
    expect(events.map((e) => `${e.event}:${e.to}`)).toEqual(['CREATE:SCHEDULED', 'DUE:PENDING', 'START:RUNNING', 'PASS:PASSED']);
    expect(events[1]!.at).toBe(Date.parse(at));
  });

  it('a timer that fires a millisecond early (as Node\'s can) does not make the execution due early', async () => {
    const clock = simulatedClock();
    const early = {
      now: () => clock.now(),
      setTimeout: (fn: () => void, ms: number) => clock.setTimeout(fn, ms > 1 ? ms - 1 : ms),
      clearTimeout: (handle: unknown) => clock.clearTimeout(handle as number),
    };
    await using t = await startEngine({}, { clock: early });
    const at = new Date(clock.now() + 60_000).toISOString();
    const run = await t.engine.coordinator.submitRun({ items: [item('later', [{ action: 'noop' }], { scheduledAt: at })] }, ADMIN);
    const id = run.executionIds[0]!;
    clock.increment(59_999); // the early timer fires here
    await t.engine.store.flush();
    expect(await statusOf(t, id)).toBe('SCHEDULED');
    clock.increment(1);
    expect(await t.engine.coordinator.waitForRun(run.id)).toBe('PASSED');
    expect((await t.engine.store.listEvents(id))[1]).toMatchObject({ event: 'DUE', at: Date.parse(at) });
  });

  it('RETRYING waits out the backoff, then the next attempt starts', async () => {
    const clock = simulatedClock();
    await using t = await startEngine({}, { clock, pool: { filename: FIXTURE_WORKER, threads: 1 } });
    const run = await t.engine.coordinator.submitRun(
      { items: [item('flaky', [{ action: 'noop', name: 'fixture:throw' }], { retry: { maxAttempts: 2, delayMs: 60_000 } })] },
      ADMIN,
    );
    const id = run.executionIds[0]!;
    await waitFor(async () => (await statusOf(t, id)) === 'RETRYING', 'RETRYING');
    const retrying = (await t.engine.store.getExecution(id))!;
    expect(retrying.machine.retryAt).toBe((await t.engine.store.listEvents(id)).at(-1)!.at + 60_000);
    clock.increment(59_999);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await statusOf(t, id)).toBe('RETRYING');
    clock.increment(1);
    expect(await t.engine.coordinator.waitForRun(run.id)).toBe('FAILED');
    const events = await t.engine.store.listEvents(id);
    expect(events.map((e) => `${e.to}@${e.attempt}`)).toEqual(['PENDING@1', 'RUNNING@1', 'RETRYING@1', 'RUNNING@2', 'ERROR@2']);
  });

  it('a PENDING execution whose queue deadline passes ends in TIMEOUT', async () => {
    const clock = simulatedClock();
    await using t = await startEngine({ EXECUTION_MAX_CONCURRENT_JOBS: '1' }, { clock });
    const blocker = await t.engine.coordinator.submitRun({ items: [item('blocker', [{ action: 'sleep', ms: 60_000 }])] }, ADMIN);
    await waitFor(async () => (await statusOf(t, blocker.executionIds[0]!)) === 'RUNNING', 'blocker running');
    const run = await t.engine.coordinator.submitRun({ items: [item('impatient', [{ action: 'noop' }], { queueTimeoutMs: 5_000 })] }, ADMIN);
    clock.increment(5_000);
    expect(await t.engine.coordinator.waitForRun(run.id)).toBe('FAILED');
    const last = (await t.engine.store.listEvents(run.executionIds[0]!)).at(-1)!;
    expect(last).toMatchObject({ from: 'PENDING', to: 'TIMEOUT', actor: 'timer' });
    await t.engine.coordinator.cancelRun(blocker.id, ADMIN);
  });

  it('PAUSE stops the runner; the pause deadline ends it in TIMEOUT', async () => {
    const clock = simulatedClock();
    await using t = await startEngine({}, { clock });
    const run = await t.engine.coordinator.submitRun({ items: [item('paused', [{ action: 'sleep', ms: 60_000 }], { pauseTimeoutMs: 10_000 })] }, ADMIN);
    const id = run.executionIds[0]!;
    await waitFor(async () => (await statusOf(t, id)) === 'RUNNING', 'RUNNING');
    expect(await t.engine.coordinator.command(id, 'PAUSE', ADMIN)).toBe('PAUSED');
    clock.increment(10_000);
    expect(await t.engine.coordinator.waitForRun(run.id)).toBe('FAILED');
    expect((await t.engine.store.listEvents(id)).at(-1)).toMatchObject({ from: 'PAUSED', to: 'TIMEOUT' });
  });

  it('RESUME runs the item again and it can pass; the run deadline keeps the time left', async () => {
    const clock = simulatedClock();
    await using t = await startEngine({}, { clock });
    const run = await t.engine.coordinator.submitRun({ items: [item('resumable', [{ action: 'sleep', ms: 300 }], { timeoutMs: 60_000 })] }, ADMIN);
    const id = run.executionIds[0]!;
    await waitFor(async () => (await statusOf(t, id)) === 'RUNNING', 'RUNNING');
    await t.engine.coordinator.command(id, 'PAUSE', ADMIN);
    const paused = (await t.engine.store.getExecution(id))!;
    clock.increment(1_000);
    await t.engine.coordinator.command(id, 'RESUME', ADMIN);
    const resumed = (await t.engine.store.getExecution(id))!;
    expect(resumed.machine.runDeadlineAt).toBe(clock.now() + paused.machine.remainingRunMs!);
    expect(await t.engine.coordinator.waitForRun(run.id)).toBe('PASSED');
    expect((await t.engine.store.listEvents(id)).map((e) => e.to)).toEqual(['PENDING', 'RUNNING', 'PAUSED', 'RUNNING', 'PASSED']);
  });
});

describe('commands', () => {
  it('an illegal command names the current status and changes nothing; unknown ids are NOT_FOUND', async () => {
    await using t = await startEngine();
    const { coordinator, store } = t.engine;
    const run = await coordinator.submitRun({ items: [item('done')] }, ADMIN);
    await coordinator.waitForRun(run.id);
    const id = run.executionIds[0]!;
    const before = await store.listEvents(id);
    for (const type of ['RESUME', 'CANCEL', 'PAUSE', 'START', 'ABORT'] as const) {
      const err = await coordinator.command(id, type, ADMIN).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TroupeError);
      expect(err).toMatchObject({ code: 'ILLEGAL_TRANSITION', status: 409 });
      expect((err as TroupeError).message).toContain('PASSED');
    }
    expect(await store.listEvents(id)).toEqual(before);
    const missing = await coordinator.command('exe_01aaaaaaaaaaaaaaaaaaaaaaaa', 'CANCEL', ADMIN).catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: 'NOT_FOUND', status: 404 });
  });

  it('commands are written to the audit log with who, what and when', async () => {
    await using t = await startEngine({ EXECUTION_MAX_CONCURRENT_JOBS: '1' });
    const { coordinator, store } = t.engine;
    const run = await coordinator.submitRun({ items: [item('a', [{ action: 'sleep', ms: 30_000 }]), item('b')] }, ADMIN);
    await coordinator.command(run.executionIds[1]!, 'SKIP', ADMIN, 'not today');
    const [entry] = await store.listAudit(1);
    expect(entry).toMatchObject({ principal: 'alice', action: 'SKIP', target: run.executionIds[1], details: { reason: 'not today' } });
    expect(typeof entry!.at).toBe('number');
    await coordinator.cancelRun(run.id, ADMIN);
  });
});
