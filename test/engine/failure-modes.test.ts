import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, FIXTURE_WORKER, item, startEngine, waitFor, type TestEngine } from '../helpers/engine.js';
import { WorkerPool } from '../../src/pool/worker-pool.js';
import { expectStepsKeptAfterCancel } from '../helpers/cancel-mid-step.js';

/** One fixture per runner failure mode, run through the whole engine on real worker threads. */
describe('runner failure modes', () => {
  let t: TestEngine;
  beforeAll(async () => {
    t = await startEngine(
      { EXECUTION_RETRY_DELAY_SECONDS: '0' },
      { pool: { filename: FIXTURE_WORKER, threads: 2, tasksPerThread: 4, graceMs: 300, resourceLimits: { maxOldGenerationSizeMb: 48 } } },
    );
  });
  afterAll(async () => t[Symbol.asyncDispose]());

  async function runOne(mode: string, extra: Record<string, unknown> = {}) {
    const { coordinator } = t.engine;
    const run = await coordinator.submitRun({ items: [item(mode, [{ action: 'noop', name: `fixture:${mode}` }], extra)] }, ADMIN);
    await coordinator.waitForRun(run.id);
    const id = run.executionIds[0]!;
    const execution = (await t.engine.store.getExecution(id))!;
    const events = await t.engine.store.listEvents(id);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    return { execution, events, last: events[events.length - 1]! };
  }

  it('pass ends PASSED', async () => {
    const { execution } = await runOne('pass');
    expect(execution.status).toBe('PASSED');
  });

  it('a failed test ends FAILED with its reason and is not retried by default', async () => {
    const { execution, events, last } = await runOne('fail');
    expect(execution.status).toBe('FAILED');
    expect(last.reason).toContain('assertion failed');
    expect(events.some((e) => e.to === 'RETRYING')).toBe(false);
  });

  it('a runner that throws is an ERROR, retried while attempts remain, each attempt recorded', async () => {
    const { execution, events, last } = await runOne('throw', { retry: { maxAttempts: 2, delayMs: 0 } });
    expect(execution.status).toBe('ERROR');
    expect(execution.attempt).toBe(2);
    expect(events.filter((e) => e.to === 'RETRYING')).toHaveLength(1);
    expect(events.filter((e) => e.to === 'RUNNING').map((e) => e.attempt)).toEqual([1, 2]);
    expect(last.reason).toContain('runner exploded');
  });

  it('a non-retryable error is not retried even when attempts remain', async () => {
    const { execution, events } = await runOne('non-retryable', { retry: { maxAttempts: 3, delayMs: 0 } });
    expect(execution.status).toBe('ERROR');
    expect(events.some((e) => e.to === 'RETRYING')).toBe(false);
  });

  it('process.exit in the runner kills only its thread: ERROR with the cause', async () => {
    const { execution, last } = await runOne('process-exit', { retry: { maxAttempts: 1 } });
    expect(execution.status).toBe('ERROR');
    expect(last.reason).toMatch(/worker thread failed/);
  });

  it('an uncaught asynchronous exception in the thread ends in ERROR', async () => {
    const { execution, last } = await runOne('uncaught', { retry: { maxAttempts: 1 } });
    expect(execution.status).toBe('ERROR');
    expect(last.reason).toContain('asynchronous crash');
  });

  it('a runner that blocks its thread past the deadline ends in TIMEOUT, its thread terminated', async () => {
    const { execution, last } = await runOne('busy-hang', { timeoutMs: 400, retry: { maxAttempts: 1 } });
    expect(execution.status).toBe('TIMEOUT');
    expect(last.reason).toMatch(/thread was terminated/);
  });

  it('a runner that ignores its signal ends in TIMEOUT at its deadline', async () => {
    const { execution } = await runOne('ignore-signal', { timeoutMs: 300, retry: { maxAttempts: 1 } });
    expect(execution.status).toBe('TIMEOUT');
  });

  it('TIMEOUT is retried when the policy covers it', async () => {
    const { execution, events } = await runOne('ignore-signal', {
      timeoutMs: 200,
      retry: { maxAttempts: 2, delayMs: 0, retryOn: ['TIMEOUT'] },
    });
    expect(execution.status).toBe('TIMEOUT');
    expect(events.filter((e) => e.to === 'RETRYING')).toHaveLength(1);
  });

  it('running out of heap kills only its thread: ERROR', async () => {
    const { execution, last } = await runOne('oom', { retry: { maxAttempts: 1 } });
    expect(execution.status).toBe('ERROR');
    expect(last.reason).toMatch(/worker thread failed/);
  });

  it('cancel stops a running cooperative runner', async () => {
    const { coordinator, store } = t.engine;
    const run = await coordinator.submitRun({ items: [item('long sleep', [{ action: 'sleep', ms: 60_000 }])] }, ADMIN);
    const id = run.executionIds[0]!;
    await waitFor(async () => (await store.getExecution(id))?.status === 'RUNNING', 'RUNNING');
    await coordinator.command(id, 'CANCEL', ADMIN, 'no longer needed');
    expect(await coordinator.waitForRun(run.id)).toBe('FAILED');
    const events = await store.listEvents(id);
    expect(events.at(-1)).toMatchObject({ to: 'CANCELLED', event: 'CANCEL', actor: 'user:alice', reason: 'no longer needed' });
  });

  it('a cancelled execution keeps the steps its runner reported after the cancel', async () => {
    // An engine of its own whose runners get a long grace to stop: under load the runner's report may take longer
    // than this file's 300 ms, and its thread would be terminated with the steps.
    await using own = await startEngine({}, { pool: { threads: 1, graceMs: 60_000 } });
    await expectStepsKeptAfterCancel(own.engine);
  });

  it('a cancel as soon as the execution is RUNNING (its job started or not) ends it CANCELLED and leaves the pool free', async () => {
    const { coordinator, store } = t.engine;
    const run = await coordinator.submitRun({ items: [item('cancelled early', [{ action: 'sleep', ms: 60_000 }])] }, ADMIN);
    const id = run.executionIds[0]!;
    await waitFor(async () => (await store.getExecution(id))?.status === 'RUNNING', 'the execution to run');
    await coordinator.command(id, 'CANCEL', ADMIN);
    await coordinator.waitForRun(run.id);
    expect((await store.getExecution(id))?.status).toBe('CANCELLED');
    const after = await coordinator.submitRun({ items: [item('after the early cancel')] }, ADMIN);
    expect(await coordinator.waitForRun(after.id)).toBe('PASSED');
  });

  it('abort stops a runner that ignores its signal, and the pool recovers', async () => {
    const { coordinator, store } = t.engine;
    const run = await coordinator.submitRun({ items: [item('stubborn', [{ action: 'noop', name: 'fixture:ignore-signal' }])] }, ADMIN);
    const id = run.executionIds[0]!;
    await waitFor(async () => (await store.getExecution(id))?.status === 'RUNNING', 'RUNNING');
    await coordinator.command(id, 'ABORT', ADMIN);
    await coordinator.waitForRun(run.id);
    expect((await store.getExecution(id))!.status).toBe('ABORTED');
  });

  it('after every failure mode the pool still runs work on all its threads', async () => {
    const { coordinator, store } = t.engine;
    const run = await coordinator.submitRun({ items: Array.from({ length: 20 }, (_, i) => item(`after ${i}`)) }, ADMIN);
    expect(await coordinator.waitForRun(run.id)).toBe('PASSED');
    expect(await store.runCounts(run.id)).toEqual({ PASSED: 20 });
    expect(t.engine.pool!.threads).toBe(2);
  });
});

describe('worker pool stops', () => {
  it('a runner that ignores a stop sent before its thread reported it started is still terminated', async () => {
    const pool = new WorkerPool({ filename: FIXTURE_WORKER, threads: 1, tasksPerThread: 2, graceMs: 100 });
    try {
      const task = pool.run({
        jobId: 'job-early-stop',
        executionId: 'exe-early-stop',
        attempt: 1,
        item: { name: 'early', type: 'GENERIC', steps: [{ action: 'noop', name: 'fixture:ignore-signal' }] },
        deadlineAt: Date.now() + 3_600_000,
      });
      // Handed over to the thread (tasks of one turn go out together on the next), which cannot have reported
      // `started` yet: its report is read in a later phase of the event loop.
      await new Promise((resolve) => setImmediate(resolve));
      task.stop('cancel', 'cancelled at once');
      const outcome = await task.result;
      expect(outcome.outcome).toBe('CANCELLED');
      expect(outcome.reason).toMatch(/its thread was terminated/);
      // The pool goes on with a fresh thread.
      const next = await pool.run({
        jobId: 'job-after',
        executionId: 'exe-after',
        attempt: 1,
        item: { name: 'after', type: 'GENERIC', steps: [{ action: 'noop', name: 'fixture:pass' }] },
        deadlineAt: Date.now() + 60_000,
      }).result;
      expect(next.outcome).toBe('PASSED');
    } finally {
      await pool.close();
    }
  });
});

describe('worker pool batches', () => {
  it('a task stopped before it was handed to a thread never runs: CANCELLED with the reason given', async () => {
    const pool = new WorkerPool({ filename: FIXTURE_WORKER, threads: 1, tasksPerThread: 2, graceMs: 100 });
    try {
      const task = pool.run({
        jobId: 'job-never-sent',
        executionId: 'exe-never-sent',
        attempt: 1,
        item: { name: 'never', type: 'GENERIC', steps: [{ action: 'noop', name: 'fixture:busy-hang' }] },
        deadlineAt: Date.now() + 3_600_000,
      });
      task.stop('cancel', 'cancelled before it started');
      expect(await task.result).toEqual({ outcome: 'CANCELLED', reason: 'cancelled before it started', steps: [] });
      // Had it reached the thread, the busy loop would hold it: the next task runs on the same one thread.
      const next = await pool.run({
        jobId: 'job-next',
        executionId: 'exe-next',
        attempt: 1,
        item: { name: 'next', type: 'GENERIC', steps: [{ action: 'noop', name: 'fixture:pass' }] },
        deadlineAt: Date.now() + 60_000,
      }).result;
      expect(next.outcome).toBe('PASSED');
    } finally {
      await pool.close();
    }
  });

  it("a fresh pool's first batches all report: a thread's port may be announced after its first batch settles", async () => {
    // The port a thread reports on is announced on Piscina's channel, unordered with task responses: a fresh
    // pool is where a batch can settle before its thread's port is known.
    for (let round = 0; round < 5; round++) {
      const pool = new WorkerPool({ threads: 2 });
      try {
        const outcomes = await Promise.all(
          Array.from({ length: 32 }, (_, i) =>
            pool.run({
              jobId: `fresh-${round}-${i}`,
              executionId: `exe-fresh-${i}`,
              attempt: 1,
              item: { name: 'noop', type: 'GENERIC', steps: [{ action: 'noop' }] },
              deadlineAt: Date.now() + 60_000,
            }).result,
          ),
        );
        expect(outcomes.map((o) => o.reason ?? o.outcome)).toEqual(Array.from({ length: 32 }, () => 'PASSED'));
      } finally {
        await pool.close();
      }
    }
  });

  it('tasks handed over together each report their own outcome, as soon as each finishes', async () => {
    const pool = new WorkerPool({ threads: 2, tasksPerThread: 16 });
    try {
      const sleepy = (jobId: string, ms: number) =>
        pool.run({
          jobId,
          executionId: `exe-${jobId}`,
          attempt: 1,
          item: { name: jobId, type: 'GENERIC', steps: [{ action: 'sleep', ms }] },
          deadlineAt: Date.now() + 60_000,
        }).result;
      const slow = sleepy('slow', 60_000 - 1_000);
      let slowDone = false;
      void slow.then(() => (slowDone = true));
      const quick = await Promise.all(Array.from({ length: 30 }, (_, i) => sleepy(`quick-${i}`, i % 3)));
      expect(quick.map((o) => o.outcome)).toEqual(Array.from({ length: 30 }, () => 'PASSED'));
      // The quick ones were reported while a task of their batch still runs.
      expect(slowDone).toBe(false);
    } finally {
      await pool.close();
    }
  });
});

describe('worker pool setup', () => {
  it('refuses a worker entry that does not exist (an unbuilt checkout) instead of waiting for threads that never start', () => {
    expect(() => new WorkerPool({ filename: '/nonexistent/pool.worker.js', threads: 1 })).toThrow(
      /pool\.worker\.js does not exist: run `npm run build` first/,
    );
  });
});
