import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TroupeError } from '../../src/core/errors.js';
import { SqliteStore } from '../../src/store/sqlite.store.js';
import type { Coordinator } from '../../src/engine/coordinator.js';
import { ADMIN, startEngine, tempDir, waitFor, type TestEngine } from '../helpers/engine.js';

/**
 * MANUAL executions: the engine pauses for a tester's verdict on each step (SPEC §4, §5), resumes on each,
 * and ends PASSED, FAILED, TIMEOUT (pause deadline) or CANCELLED; verdicts are checked like commands.
 */

const TESTER = { id: 'tess', roles: ['runner'] as const };
const OTHER = { id: 'olga', roles: ['runner'] as const };

const manual = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  type: 'MANUAL',
  steps: [
    { instruction: 'Open the login page', expected: 'The form is shown' },
    { instruction: 'Log in as admin', expected: 'The dashboard is shown' },
    { instruction: 'Log out', expected: 'The login page is shown again' },
  ],
  ...extra,
});

async function submit(c: Coordinator, item: unknown, principal: { id: string; roles: readonly ('runner' | 'admin' | 'viewer')[] } = TESTER) {
  const record = await c.submitExecution(item, principal);
  return record.id;
}

async function paused(t: TestEngine, id: string): Promise<void> {
  await waitFor(async () => (await t.engine.store.getExecution(id))?.status === 'PAUSED', `${id} to pause for a verdict`);
}

async function code(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (err) {
    if (err instanceof TroupeError) return err.code;
    throw err;
  }
  return 'OK';
}

let t: TestEngine;
beforeAll(async () => {
  t = await startEngine({}, { pool: false });
});
afterAll(async () => {
  await t?.[Symbol.asyncDispose]();
});

describe('MANUAL executions', () => {
  it('walks pause → verdict → resume through every step to PASSED, each verdict stored as a step', async () => {
    const c = t.engine.coordinator;
    const id = await submit(c, manual('login'));
    await paused(t, id);
    expect((await t.engine.store.listEvents(id)).at(-1)).toMatchObject({
      to: 'PAUSED',
      actor: 'engine',
      reason: 'awaiting the verdict for step 0: Open the login page',
    });
    expect(await c.verdict(id, 0, { verdict: 'passed', comment: 'form ok' }, TESTER)).toBe('PAUSED');
    expect(await c.verdict(id, 1, { verdict: 'skipped', comment: 'no admin account here' }, TESTER)).toBe('PAUSED');
    expect(await c.verdict(id, 2, { verdict: 'passed', attachment: 'https://files.example/shot.png' }, ADMIN)).toBe('PASSED');

    const events = await t.engine.store.listEvents(id);
    expect(events.map((e) => `${e.from ?? '-'}>${e.to}`)).toEqual([
      '->PENDING', 'PENDING>RUNNING',
      'RUNNING>PAUSED', 'PAUSED>RUNNING',
      'RUNNING>PAUSED', 'PAUSED>RUNNING',
      'RUNNING>PAUSED', 'PAUSED>RUNNING',
      'RUNNING>PASSED',
    ]);
    expect(events[3]).toMatchObject({ actor: 'user:tess', reason: 'verdict for step 0: passed' });
    const steps = await t.engine.store.listSteps(id);
    expect(steps.map((s) => [s.index, s.name, s.status, s.output])).toEqual([
      [0, 'Open the login page', 'PASSED', 'form ok'],
      [1, 'Log in as admin', 'SKIPPED', 'no admin account here'],
      [2, 'Log out', 'PASSED', 'attachment: https://files.example/shot.png'],
    ]);
    const audit = await t.engine.store.listAudit(100);
    expect(audit.filter((a) => a.action === 'VERDICT' && a.target === id)).toHaveLength(3);
  });

  it('a failed step ends the execution FAILED with the tester’s comment, and the later steps are never asked', async () => {
    const c = t.engine.coordinator;
    const id = await submit(c, manual('broken login'));
    await paused(t, id);
    await c.verdict(id, 0, { verdict: 'passed' }, TESTER);
    expect(await c.verdict(id, 1, { verdict: 'failed', comment: 'dashboard is blank' }, TESTER)).toBe('FAILED');
    const events = await t.engine.store.listEvents(id);
    expect(events.at(-1)).toMatchObject({ from: 'RUNNING', to: 'FAILED', reason: 'step 1 failed: dashboard is blank' });
    expect((await t.engine.store.listSteps(id)).map((s) => s.status)).toEqual(['PASSED', 'FAILED']);
    expect(await code(c.verdict(id, 2, { verdict: 'passed' }, TESTER))).toBe('ILLEGAL_TRANSITION');
  });

  it('rejects verdicts that are not awaited, malformed or not the caller’s, and changes nothing', async () => {
    const c = t.engine.coordinator;
    const id = await submit(c, manual('strict'));
    await paused(t, id);
    const before = await t.engine.store.listEvents(id);
    expect(await code(c.verdict(id, 1, { verdict: 'passed' }, TESTER))).toBe('ILLEGAL_TRANSITION'); // step 0 is awaited
    expect(await code(c.verdict(id, 3, { verdict: 'passed' }, TESTER))).toBe('VALIDATION_FAILED'); // no such step
    expect(await code(c.verdict(id, 0, { verdict: 'maybe' }, TESTER))).toBe('VALIDATION_FAILED');
    expect(await code(c.verdict(id, 0, { verdict: 'passed', extra: 1 }, TESTER))).toBe('VALIDATION_FAILED');
    expect(await code(c.verdict(id, 0, null, TESTER))).toBe('VALIDATION_FAILED');
    expect(await code(c.verdict(id, 0, { verdict: 'passed' }, OTHER))).toBe('NOT_FOUND'); // someone else's
    expect(await code(c.verdict('exe_missing', 0, { verdict: 'passed' }, TESTER))).toBe('NOT_FOUND');
    const generic = await submit(c, { name: 'g', type: 'GENERIC', steps: [{ action: 'sleep', ms: 60_000 }] });
    expect(await code(c.verdict(generic, 0, { verdict: 'passed' }, TESTER))).toBe('VALIDATION_FAILED');
    await c.command(generic, 'CANCEL', TESTER);
    expect(await t.engine.store.listEvents(id)).toEqual(before);
    expect(await t.engine.store.listSteps(id)).toEqual([]);
  });

  it('two verdicts for the same step at once: one is taken, the other refused', async () => {
    const c = t.engine.coordinator;
    const id = await submit(c, manual('race'));
    await paused(t, id);
    const outcomes = await Promise.all([
      code(c.verdict(id, 0, { verdict: 'passed', comment: 'first' }, TESTER)),
      code(c.verdict(id, 0, { verdict: 'failed', comment: 'second' }, TESTER)),
    ]);
    expect(outcomes.sort()).toEqual(['ILLEGAL_TRANSITION', 'OK']);
    expect(await t.engine.store.listSteps(id)).toHaveLength(1);
  });

  it('cancel works while paused', async () => {
    const c = t.engine.coordinator;
    const id = await submit(c, manual('cancel me'));
    await paused(t, id);
    expect(await c.command(id, 'CANCEL', TESTER)).toBe('CANCELLED');
    expect(await code(c.verdict(id, 0, { verdict: 'passed' }, TESTER))).toBe('ILLEGAL_TRANSITION');
  });

  it('the pause deadline ends a forgotten execution in TIMEOUT', async () => {
    const c = t.engine.coordinator;
    const id = await submit(c, manual('forgotten', { pauseTimeoutMs: 300 }));
    await waitFor(async () => (await t.engine.store.getExecution(id))?.status === 'TIMEOUT', 'the pause deadline');
    expect((await t.engine.store.listEvents(id)).at(-1)).toMatchObject({ from: 'PAUSED', to: 'TIMEOUT', reason: 'pause deadline passed' });
  });
});

describe('MANUAL executions whose next step cannot be decided', () => {
  it('end in ERROR naming why, instead of staying RUNNING with nothing to move them on', async () => {
    const store = new SqliteStore({ file: ':memory:' });
    let failSteps = false;
    // The real store, failing its step reads on demand (as a lost database connection would).
    const faulty = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'listSteps' && failSteps) return () => Promise.reject(new Error('steps unreadable'));
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    await using f = await startEngine({}, { pool: false, store: faulty });
    failSteps = true;
    const id = await submit(f.engine.coordinator, manual('unreadable', { retry: { maxAttempts: 1 } }));
    await waitFor(async () => (await store.getExecution(id))?.status === 'ERROR', 'the execution to end in ERROR');
    expect((await store.listEvents(id)).at(-1)).toMatchObject({
      from: 'RUNNING',
      to: 'ERROR',
      actor: 'engine',
      reason: 'the next manual step could not be decided: Error: steps unreadable',
    });
  });
});

describe('MANUAL executions across a restart', () => {
  it('a restarted engine keeps waiting for the same step, and verdicts given before the restart count', async () => {
    const dir = tempDir();
    // The first engine is closed, not disposed: disposing would remove the data dir.
    const first = await startEngine({}, { pool: false }, dir);
    const id = await submit(first.engine.coordinator, manual('restart'));
    await paused(first, id);
    await first.engine.coordinator.verdict(id, 0, { verdict: 'passed' }, TESTER);
    await first.engine.close();
    await using second = await startEngine({}, { pool: false }, dir);
    const c = second.engine.coordinator;
    await paused(second, id);
    expect(await code(c.verdict(id, 0, { verdict: 'passed' }, TESTER))).toBe('ILLEGAL_TRANSITION');
    await c.verdict(id, 1, { verdict: 'passed' }, TESTER);
    expect(await c.verdict(id, 2, { verdict: 'passed' }, TESTER)).toBe('PASSED');
    rmSync(dir, { recursive: true, force: true });
  });
});
