import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, FIXTURE_WORKER, item, startEngine, tempDir, waitFor, type TestEngine } from '../helpers/engine.js';
import { expectError, startTestServer } from '../helpers/server.js';
import { EXEC_OUTPUT_BYTES } from '../../src/runners/generic/exec.js';
import { reportTests } from '../../src/report/run-report.js';
import { toJunitXml } from '../../src/report/junit.js';

/**
 * The `exec` GENERIC action (SPEC §4, docs/runners.md): one fixture per failure mode, run through a whole engine
 * on real worker threads that run real child processes.
 */

const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'exec');
const NODE = process.execPath;
const MODES = join(FIXTURES, 'modes.mjs');

/**
 * Whether a process is alive. A zombie counts as dead: when the shell of a killed tree dies, its orphans are
 * reparented to PID 1, and an init that does not reap (as in some containers) leaves them as zombies forever.
 */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z';
  } catch {
    return !existsSync('/proc/self'); // no /proc here: kill(0) is all we have
  }
}

function pidsIn(file: string): number[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
}

/** Variables the worker threads inherit; set before the engine (and so its threads) starts. */
const WORKER_ENV: Record<string, string> = {
  TROUPE_EXEC_ENABLED: 'true',
  TROUPE_EXEC_ENV_ALLOW: 'EXEC_FIXTURE_VISIBLE, NATS_PASSWORD, MY_API_TOKEN',
  EXEC_FIXTURE_VISIBLE: 'visible-value',
  EXEC_FIXTURE_HIDDEN: 'hidden-value',
  TROUPE_JWT_SECRET: 'a-jwt-secret-that-must-never-reach-a-test-command',
  NATS_PASSWORD: 'nats-password-value',
  MY_API_TOKEN: 'api-token-value',
  MONGODB_URL: 'mongodb://user:mongo-password@localhost/db',
};

describe('exec steps', () => {
  let t: TestEngine;
  let scratch: string;
  const saved = new Map<string, string | undefined>();

  beforeAll(async () => {
    for (const [k, v] of Object.entries(WORKER_ENV)) {
      saved.set(k, process.env[k]);
      process.env[k] = v;
    }
    scratch = tempDir('troupe-exec-test-');
    t = await startEngine(
      { TROUPE_EXEC_ENABLED: 'true', EXECUTION_RETRY_DELAY_SECONDS: '0', EXECUTION_RETRY_MAX_ATTEMPTS: '1' },
      { pool: { threads: 2 } },
    );
  });
  afterAll(async () => {
    await t?.[Symbol.asyncDispose]();
    rmSync(scratch, { recursive: true, force: true });
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  async function submit(steps: unknown[], extra: Record<string, unknown> = {}) {
    const run = await t.engine.coordinator.submitRun({ items: [item('exec', steps, extra)] }, ADMIN);
    return { runId: run.id, id: run.executionIds[0]! };
  }

  async function finished(id: string, runId: string) {
    await t.engine.coordinator.waitForRun(runId);
    const execution = (await t.engine.store.getExecution(id))!;
    const events = await t.engine.store.listEvents(id);
    const steps = (await t.engine.store.listSteps(id)).filter((s) => s.attempt === execution.attempt);
    return { execution, events, steps, last: events.at(-1)! };
  }

  async function runOne(steps: unknown[], extra: Record<string, unknown> = {}) {
    const { id, runId } = await submit(steps, extra);
    return finished(id, runId);
  }

  const mode = (m: string, more: Record<string, unknown> = {}) => ({ action: 'exec', command: NODE, args: [MODES, m], ...more });

  it('pass: exit code 0 and stdout as expected is PASSED, with the output recorded', async () => {
    const { execution, steps } = await runOne([mode('pass', { expect: { stdoutContains: 'all good' } }), { action: 'noop' }]);
    expect(execution.status).toBe('PASSED');
    expect(steps.map((s) => [s.index, s.status])).toEqual([
      [0, 'PASSED'],
      [1, 'PASSED'],
    ]);
    expect(steps[0]!.output).toContain('exit code 0');
    expect(steps[0]!.output).toContain('all good');
  });

  it('runs in a fresh working directory that is removed afterwards', async () => {
    const { execution, steps } = await runOne([mode('cwd')]);
    expect(execution.status).toBe('PASSED');
    const cwd = /--- stdout ---\n(.+)/.exec(steps[0]!.output!)![1]!.trim();
    expect(cwd).toMatch(/troupe-exec-/);
    expect(existsSync(cwd)).toBe(false);
  });

  it('fail: an unexpected exit code is FAILED, naming both codes, with stderr recorded; later steps SKIPPED', async () => {
    const { execution, steps, last } = await runOne([mode('fail'), { action: 'noop' }]);
    expect(execution.status).toBe('FAILED');
    expect(last.reason).toContain('expected exit code 0, got 3');
    expect(steps[0]).toMatchObject({ status: 'FAILED', error: { code: 'EXPECTATION_FAILED' } });
    expect(steps[0]!.output).toContain('something broke');
    expect(steps[1]!.status).toBe('SKIPPED');
  });

  it('an expected non-zero exit code passes', async () => {
    const { execution } = await runOne([mode('fail', { expect: { exitCode: 3, stderrContains: 'something broke' } })]);
    expect(execution.status).toBe('PASSED');
  });

  it('stdout expectation not met is FAILED with the expectation in the reason', async () => {
    const { execution, last } = await runOne([mode('pass', { expect: { stdoutContains: 'not printed' } })]);
    expect(execution.status).toBe('FAILED');
    expect(last.reason).toContain('expected stdout to contain "not printed"');
  });

  it('command not found is an ERROR naming the command, and is not retried', async () => {
    const { execution, events, steps, last } = await runOne([{ action: 'exec', command: 'troupe-no-such-command-xyz' }], {
      retry: { maxAttempts: 3, delayMs: 0 },
    });
    expect(execution.status).toBe('ERROR');
    expect(execution.attempt).toBe(1);
    expect(events.some((e) => e.to === 'RETRYING')).toBe(false);
    expect(last.reason).toContain('cannot start troupe-no-such-command-xyz: command not found');
    expect(steps[0]).toMatchObject({ status: 'ERROR', error: { code: 'EXEC_SPAWN_FAILED', retryable: false } });
  });

  it('crash: a command killed by a signal nobody sent is FAILED (the process under test misbehaved)', async () => {
    const { execution, steps, last } = await runOne([mode('crash')]);
    expect(execution.status).toBe('FAILED');
    expect(last.reason).toContain('killed by SIGSEGV');
    expect(steps[0]!.output).toContain('about to crash');
  });

  it('hang past the step timeout: TIMEOUT, and the whole process group is killed', async () => {
    // The step timeout runs from the start: it leaves the script time to write its pids even on a loaded machine.
    const pidsFile = join(scratch, 'hang.pids');
    const { execution, steps, last } = await runOne([
      { action: 'exec', command: 'sh', args: [join(FIXTURES, 'tree.sh')], env: { PIDS_FILE: pidsFile }, timeoutMs: 2000 },
    ]);
    expect(execution.status).toBe('TIMEOUT');
    expect(last.reason).toContain('timed out after 2000 ms; process group killed with SIGTERM');
    expect(steps[0]!.status).toBe('TIMEOUT');
    const pids = pidsIn(pidsFile);
    expect(pids).toHaveLength(3);
    await waitFor(() => pids.every((p) => !alive(p)), 'every process of the tree to be gone');
  });

  it('a process that ignores SIGTERM is killed with SIGKILL after the grace', async () => {
    const pidsFile = join(scratch, 'stubborn.pids');
    const { execution, last } = await runOne([
      { action: 'exec', command: 'sh', args: [join(FIXTURES, 'stubborn.sh')], env: { PIDS_FILE: pidsFile }, timeoutMs: 1500 },
    ]);
    expect(execution.status).toBe('TIMEOUT');
    expect(last.reason).toContain('SIGKILL after ignoring SIGTERM');
    const pids = pidsIn(pidsFile);
    expect(pids).toHaveLength(2);
    await waitFor(() => pids.every((p) => !alive(p)), 'every process of the stubborn tree to be gone');
  });

  it('cancel kills the whole tree, grandchildren included', async () => {
    const pidsFile = join(scratch, 'cancel.pids');
    const { id, runId } = await submit([{ action: 'exec', command: 'sh', args: [join(FIXTURES, 'tree.sh')], env: { PIDS_FILE: pidsFile } }]);
    const pids = await waitFor(() => (pidsIn(pidsFile).length === 3 ? pidsIn(pidsFile) : null), 'the tree to start');
    expect(pids.every(alive)).toBe(true);
    await t.engine.coordinator.command(id, 'CANCEL', ADMIN, 'enough');
    const { execution } = await finished(id, runId);
    expect(execution.status).toBe('CANCELLED');
    await waitFor(() => pids.every((p) => !alive(p)), 'every process of the tree to be gone');
  });

  it('cancel of a tree that ignores SIGTERM: SIGKILLed after the grace even though the pool ends the thread first', async () => {
    const pidsFile = join(scratch, 'stubborn-cancel.pids');
    const { id, runId } = await submit([
      { action: 'exec', command: 'sh', args: [join(FIXTURES, 'stubborn.sh')], env: { PIDS_FILE: pidsFile } },
    ]);
    const pids = await waitFor(() => (pidsIn(pidsFile).length === 2 ? pidsIn(pidsFile) : null), 'the tree to start');
    await t.engine.coordinator.command(id, 'CANCEL', ADMIN, 'enough');
    const { execution } = await finished(id, runId);
    expect(execution.status).toBe('CANCELLED');
    await waitFor(() => pids.every((p) => !alive(p)), 'every process of the stubborn tree to be gone');
    const cwd = readFileSync(`${pidsFile}.cwd`, 'utf8').trim();
    expect(cwd).toMatch(/troupe-exec-/);
    await waitFor(() => !existsSync(cwd), 'the working directory to be removed');
  });

  it('an output flood is capped with a marker, the step ends normally and the engine carries on', async () => {
    const { execution, steps } = await runOne([mode('flood', { expect: { stdoutContains: 'END OF FLOOD' } })]);
    expect(execution.status).toBe('PASSED');
    const output = steps[0]!.output!;
    expect(output).toMatch(/output truncated: the first \d+ of \d+ bytes of stdout not kept/);
    expect(output.length).toBeLessThan(EXEC_OUTPUT_BYTES + 1024);
    expect(output).toContain('END OF FLOOD');
    expect((await runOne([{ action: 'noop' }])).execution.status).toBe('PASSED');
  });

  it('secrets of the engine never reach the command; the allow-list and the step env do', async () => {
    const { execution, steps } = await runOne([mode('env', { env: { STEP_VALUE: 'from-the-step' } })]);
    expect(execution.status).toBe('PASSED');
    const env = JSON.parse(/--- stdout ---\n(.*)/s.exec(steps[0]!.output!)![1]!) as Record<string, string>;
    expect(env.EXEC_FIXTURE_VISIBLE).toBe('visible-value');
    expect(env.STEP_VALUE).toBe('from-the-step');
    expect(env.PATH).toBe(process.env.PATH);
    for (const name of ['TROUPE_JWT_SECRET', 'TROUPE_EXEC_ENABLED', 'NATS_PASSWORD', 'MY_API_TOKEN', 'MONGODB_URL', 'EXEC_FIXTURE_HIDDEN']) {
      expect(env, name).not.toHaveProperty(name);
    }
    expect(steps[0]!.output).not.toContain('never-reach');
  });

  it('runs a real vitest suite and reports each JUnit test case as a step after the exec step', async () => {
    const vitest = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
    const fixture = join(FIXTURES, 'vitest-suite');
    const { execution, steps, last } = await runOne(
      [
        {
          action: 'exec',
          name: 'vitest',
          command: `cp -r '${fixture}/.' . && '${NODE}' '${vitest}' run --reporter=junit --outputFile=report.xml`,
          shell: true,
          expect: { exitCode: 1 },
          junit: 'report.xml',
          timeoutMs: 120_000,
        },
        { action: 'noop', name: 'after' },
      ],
      { timeoutMs: 180_000 },
    );
    expect(execution.status).toBe('FAILED');
    expect(last.reason).toContain('1 of 2 JUnit test cases failed');
    expect(steps.map((s) => [s.index, s.name, s.status])).toEqual([
      [0, 'vitest', 'FAILED'],
      [1, 'math.spec.mjs › math > adds', 'PASSED'],
      [2, 'math.spec.mjs › math > multiplies (fails on purpose)', 'FAILED'],
      [3, 'step #2', 'SKIPPED'],
    ]);
    expect(steps[2]!.error!.message).toContain('expected 4 to be 5');
    // The ingested cases are marked as the exec step's, and the JUnit report has one testcase for each.
    expect(steps.map((s) => s.caseOf)).toEqual([undefined, 0, 0, undefined]);
    const events = await t.engine.store.listEvents(execution.id);
    const cases = reportTests({ ...execution, events, steps });
    expect(cases.map((c) => [c.name, c.status])).toEqual([
      [execution.name, 'FAILED'],
      [`${execution.name} › math.spec.mjs › math > adds`, 'PASSED'],
      [`${execution.name} › math.spec.mjs › math > multiplies (fails on purpose)`, 'FAILED'],
    ]);
    expect(toJunitXml({ name: 'r', id: 'run', cases })).toContain('tests="3"');
  });

  it('a passing JUnit file passes the step; its cases keep unique indexes before the next steps', async () => {
    const xml =
      '<testsuites><testsuite name="s"><testcase name="a" time="0.25"/><testcase name="b"><skipped/></testcase></testsuite></testsuites>';
    const script = `require('fs').mkdirSync('out'); require('fs').writeFileSync('out/r.xml', ${JSON.stringify(xml)})`;
    const { execution, steps } = await runOne([
      { action: 'exec', command: 'true' },
      { action: 'exec', name: 'write', command: NODE, args: ['-e', script], junit: 'out/r.xml' },
      { action: 'noop', name: 'after' },
    ]);
    expect(execution.status).toBe('PASSED');
    expect(steps.map((s) => [s.index, s.name, s.status, s.durationMs >= 0])).toEqual([
      [0, 'exec true', 'PASSED', true],
      [1, 'write', 'PASSED', true],
      [2, 's › a', 'PASSED', true],
      [3, 's › b', 'SKIPPED', true],
      [4, 'after', 'PASSED', true],
    ]);
    expect(steps[2]!.durationMs).toBe(250);
  });

  it('a missing or malformed JUnit file is an ERROR naming the file', async () => {
    const missing = await runOne([{ action: 'exec', command: NODE, args: ['-e', ''], junit: 'missing.xml' }]);
    expect(missing.execution.status).toBe('ERROR');
    expect(missing.last.reason).toContain('JUnit file missing.xml was not written');
    expect(missing.steps[0]!.error).toMatchObject({ code: 'JUNIT_INVALID', retryable: false });
    const bad = await runOne([
      { action: 'exec', command: NODE, args: ['-e', `require('fs').writeFileSync('r.xml', '<testsuites><oops')`], junit: 'r.xml' },
    ]);
    expect(bad.execution.status).toBe('ERROR');
    expect(bad.last.reason).toContain('JUnit file r.xml is not JUnit XML');
    // A file larger than the ingest limit is refused unread, not loaded into the worker thread.
    const huge = await runOne([
      { action: 'exec', command: NODE, args: ['-e', `require('fs').writeFileSync('r.xml', Buffer.alloc(17 * 1024 * 1024, 32))`], junit: 'r.xml' },
    ]);
    expect(huge.execution.status).toBe('ERROR');
    expect(huge.last.reason).toMatch(/JUnit file r\.xml is 17825792 bytes: more than the 16777216 read/);
  });

  it('a JUnit path that escapes the working directory is rejected at submit', async () => {
    for (const junit of ['../report.xml', '/etc/passwd', 'a/../../b.xml']) {
      await expect(submit([{ action: 'exec', command: NODE, junit }])).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        message: expect.stringContaining('step 0: junit must'),
      });
    }
  });
});

describe('exec gate', () => {
  const execItem = item('shell out', [{ action: 'noop' }, { action: 'exec', command: 'true' }]);

  it('rejects an exec step with 400 VALIDATION_FAILED naming item and step when TROUPE_EXEC_ENABLED is off', async () => {
    await using t = await startEngine({}, { pool: false });
    const submit = t.engine.coordinator.submitRun({ items: [item('fine'), execItem] }, ADMIN);
    await expect(submit).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      status: 400,
      message: 'item 1 (shell out): step 1: exec steps are disabled: set TROUPE_EXEC_ENABLED=true',
    });
    await expect(t.engine.coordinator.submitExecution(execItem, ADMIN)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('over HTTP: disabled → 400; enabled → runner and admin may submit, a viewer gets 403', async () => {
    {
      await using s = await startTestServer({}, { pool: false });
      const res = await (await s.client('r', ['runner'])).post('/v1/runs', { items: [execItem] });
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(res.body.error.message).toContain('exec steps are disabled');
    }
    await using s = await startTestServer({ TROUPE_EXEC_ENABLED: 'true' }, { pool: false });
    expectError(await (await s.client('v', ['viewer'])).post('/v1/runs', { items: [execItem] }), 403, 'FORBIDDEN');
    expect((await (await s.client('r', ['runner'])).post('/v1/runs', { items: [execItem] })).status).toBe(201);
    expect((await (await s.client('a', ['admin'])).post('/v1/executions', execItem)).status).toBe(201);
  });

  it('an agent without TROUPE_EXEC_ENABLED refuses to run an exec step that reaches it', async () => {
    const before = process.env.TROUPE_EXEC_ENABLED;
    delete process.env.TROUPE_EXEC_ENABLED;
    try {
      await using t = await startEngine({ TROUPE_EXEC_ENABLED: 'true', EXECUTION_RETRY_MAX_ATTEMPTS: '1' }, { pool: { threads: 1 } });
      const run = await t.engine.coordinator.submitRun({ items: [execItem] }, ADMIN);
      await t.engine.coordinator.waitForRun(run.id);
      const id = run.executionIds[0]!;
      expect((await t.engine.store.getExecution(id))!.status).toBe('ERROR');
      expect((await t.engine.store.listEvents(id)).at(-1)!.reason).toContain('exec steps are disabled on this agent');
    } finally {
      if (before !== undefined) process.env.TROUPE_EXEC_ENABLED = before;
    }
  });
});

describe('exec steps on a thread the pool terminates', () => {
  it('a command whose thread is terminated for another task’s hang is stopped by its guardian, not orphaned', async () => {
    const saved = process.env.TROUPE_EXEC_ENABLED;
    process.env.TROUPE_EXEC_ENABLED = 'true';
    const scratch = tempDir('troupe-exec-orphan-');
    try {
      // One thread: the exec task and a task that blocks its thread run side by side on it.
      await using t = await startEngine(
        { TROUPE_EXEC_ENABLED: 'true', EXECUTION_RETRY_MAX_ATTEMPTS: '1' },
        { pool: { filename: FIXTURE_WORKER, threads: 1, tasksPerThread: 4, graceMs: 200 } },
      );
      const pidFile = join(scratch, 'pid');
      const run = await t.engine.coordinator.submitRun(
        {
          items: [
            item('long command', [{ action: 'exec', command: 'sh', args: ['-c', `echo $$ > '${pidFile}'; exec sleep 300`] }]),
          ],
        },
        ADMIN,
      );
      const pid = await waitFor(() => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : null), 'the command to start');
      const hang = await t.engine.coordinator.submitRun(
        { items: [item('hangs its thread', [{ action: 'noop', name: 'fixture:busy-hang' }], { timeoutMs: 300 })] },
        ADMIN,
      );
      await t.engine.coordinator.waitForRun(hang.id);
      // The thread went, and with it the exec step's in-thread timers: the guardian stops the command.
      // Stopped: gone, or a zombie (its parent was the terminated thread's process, which reaps it only on exit).
      await waitFor(() => {
        try {
          return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? true;
        } catch {
          return true;
        }
      }, 'the orphaned command to be stopped', 15_000);
      await t.engine.coordinator.waitForRun(run.id);
      expect((await t.engine.store.getExecution(run.executionIds[0]!))?.status).toBe('ERROR');
    } finally {
      if (saved === undefined) delete process.env.TROUPE_EXEC_ENABLED;
      else process.env.TROUPE_EXEC_ENABLED = saved;
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
