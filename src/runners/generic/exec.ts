import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { execBaseEnv, loadConfig } from '../../core/config.js';
import { ERROR_CODES, type ErrorCode, type PlainError } from '../../core/errors.js';
import { junitPathProblem } from './definition.js';
import type { GenericStep } from '../../core/schemas.js';
import type { RunnerContext } from '../runner.js';
import { parseJunit } from './junit-ingest.js';
import type { ActionResult, SubStep } from './action-result.js';
import { settlesWithin } from '../../core/timeout.js';

type ExecStep = Extract<GenericStep, { action: 'exec' }>;

/** Bytes of each stream kept for `expect` matching; the rest is counted and dropped, so a flood cannot grow memory. */
export const EXEC_CAPTURE_BYTES = 1024 * 1024;
/** Bytes of each stream's end recorded as the step's output. */
export const EXEC_OUTPUT_BYTES = 64 * 1024;
/** Between SIGTERM and SIGKILL to the process group. */
export const EXEC_KILL_GRACE_MS = 2000;
/** How long the output pipes may stay open after the group is gone (held by a process that left the group). */
const PIPE_DRAIN_MS = 1000;

/** One output stream: its head (for matching), its tail (for the record) and how much there was. */
class Capture {
  private head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer = Buffer.alloc(0);
  total = 0;

  push(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.headBytes < EXEC_CAPTURE_BYTES) {
      const part = chunk.subarray(0, EXEC_CAPTURE_BYTES - this.headBytes);
      this.head.push(part);
      this.headBytes += part.length;
    }
    const joined = Buffer.concat([this.tail, chunk]);
    this.tail = joined.subarray(Math.max(0, joined.length - EXEC_OUTPUT_BYTES));
  }

  /** What `expect` searches: the first MiB and, past it, the end. */
  searchable(): string {
    const head = Buffer.concat(this.head).toString('utf8');
    return this.total > this.headBytes ? `${head}\n${this.tail.toString('utf8')}` : head;
  }

  /** What the step records: everything, or a marker and the end. */
  record(stream: string): string {
    if (this.total <= EXEC_OUTPUT_BYTES) return this.tail.toString('utf8');
    return `[… output truncated: the first ${this.total - this.tail.length} of ${this.total} bytes of ${stream} not kept …]\n${this.tail.toString('utf8')}`;
  }
}

function plain(code: ErrorCode, message: string): PlainError {
  return { code, message, retryable: ERROR_CODES[code].retryable };
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/**
 * A detached guardian started with every command. It holds the other end of a pipe from this worker thread:
 * `done` means the thread finished with the group itself; `stop` means a stop began (SIGKILL after the grace
 * unless the group is gone first). If the pipe closes without `done` — the pool terminated this thread (a hung
 * runner, perhaps another task's on the same thread) or the whole process died — the guardian stops the group
 * itself. Either way it then removes the working directory. Thread timers and `finally` blocks die with the
 * thread; the guardian does not.
 */
const GUARDIAN = `const { rmSync } = require('node:fs');
const [g, grace] = process.argv.slice(1, 3).map(Number); const dir = process.argv[3];
const gone = () => { try { process.kill(-g, 0); return false; } catch { return true; } };
const kill = (s) => { try { process.kill(-g, s); } catch {} };
let said = ''; let killAt = null;
const reap = () => {
  if (gone() || Date.now() > killAt + 5000) { rmSync(dir, { recursive: true, force: true, maxRetries: 3 }); process.exit(0); }
  if (Date.now() >= killAt) kill('SIGKILL');
  setTimeout(reap, 50);
};
process.stdin.on('data', (d) => {
  said += d;
  if (said.includes('stop') && killAt === null) { killAt = Date.now() + grace; reap(); }
});
process.stdin.on('end', () => {
  if (said.includes('done')) process.exit(0);
  if (killAt === null) { kill('SIGTERM'); killAt = Date.now() + grace; reap(); }
});
process.stdin.on('error', () => {});`;

interface Guardian {
  stop(): void;
  done(): void;
}

function startGuardian(pid: number, cwd: string): Guardian {
  try {
    const guardian = spawn(process.execPath, ['-e', GUARDIAN, String(pid), String(EXEC_KILL_GRACE_MS), cwd], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
      env: {},
    });
    guardian.unref();
    const pipe = guardian.stdin;
    pipe.on('error', () => undefined);
    // The pipe must not keep this thread alive; it only has to close when the thread goes.
    (pipe as unknown as { unref?: () => void }).unref?.();
    return {
      stop: () => void pipe.write('stop\n'),
      done: () => pipe.end('done\n'),
    };
  } catch {
    // Without a guardian the in-thread SIGKILL timer still runs, unless the thread is terminated.
    return { stop: () => undefined, done: () => undefined };
  }
}

function describeCommand(step: ExecStep): string {
  return [step.command, ...(step.args ?? []).map((a) => (/^[\w./=:@%+-]+$/.test(a) ? a : JSON.stringify(a)))].join(' ');
}

function started(child: ChildProcess): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    child.once('spawn', () => resolve(null));
    child.once('error', resolve);
  });
}

async function closed(child: ChildProcess): Promise<void> {
  const streams = [child.stdout, child.stderr].filter((s) => s !== null);
  const all = Promise.all(streams.map((s) => new Promise<void>((resolve) => (s.closed ? resolve() : s.once('close', resolve)))));
  if (!(await settlesWithin(all, PIPE_DRAIN_MS))) for (const s of streams) s.destroy();
}

/**
 * `exec` (SPEC §4, docs/runners.md): runs a command in a child process in a fresh working directory, with a
 * scrubbed environment, in its own process group so that a stop, the step's timeout or the end of the command
 * kills everything it started. Exit code and output expectations decide PASSED/FAILED; a command that cannot
 * start, or a JUnit file that is missing or malformed, is an ERROR (the definition is broken, not the test).
 */
export async function exec(step: ExecStep, ctx: RunnerContext): Promise<ActionResult> {
  const config = loadConfig();
  // Checked again here: a job may reach an agent without passing this engine's submit gate.
  if (!config.TROUPE_EXEC_ENABLED) {
    const message = 'exec steps are disabled on this agent: set TROUPE_EXEC_ENABLED=true';
    return { status: 'ERROR', message, error: plain('VALIDATION_FAILED', message) };
  }
  if (ctx.signal.aborted) return { status: 'STOPPED', message: 'stopped before the command started' };
  const cwd = await mkdtemp(join(tmpdir(), 'troupe-exec-'));
  try {
    return await runIn(cwd, step, ctx, { ...execBaseEnv(config), ...step.env });
  } finally {
    await rm(cwd, { recursive: true, force: true, maxRetries: 3 });
  }
}

async function runIn(cwd: string, step: ExecStep, ctx: RunnerContext, env: Record<string, string>): Promise<ActionResult> {
  const shown = describeCommand(step);
  const t0 = performance.now();
  const child = spawn(step.command, step.args ?? [], {
    cwd,
    env,
    detached: true,
    shell: step.shell ?? false,
    stdio: ['ignore', 'pipe', 'pipe'],
    windowsHide: true,
  });
  const out = new Capture();
  const err = new Capture();
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const failedToStart = await started(child);
  if (failedToStart || child.pid === undefined) {
    const why = failedToStart?.code === 'ENOENT' ? 'command not found' : (failedToStart?.message ?? 'no process id');
    const message = `cannot start ${step.command}: ${why}`;
    return { status: 'ERROR', output: `$ ${shown}\n${message}`, message, error: plain('EXEC_SPAWN_FAILED', message) };
  }
  child.on('error', () => undefined); // a failed kill of an exited child is not news
  const pid = child.pid;
  const guardian = startGuardian(pid, cwd);

  let stoppedBy: 'signal' | 'timeout' | null = null;
  let killed = false;
  let killTimer: NodeJS.Timeout | undefined;
  const stop = (why: 'signal' | 'timeout') => {
    if (stoppedBy) return;
    stoppedBy = why;
    killGroup(pid, 'SIGTERM');
    guardian.stop();
    killTimer = setTimeout(() => {
      killed = true;
      killGroup(pid, 'SIGKILL');
    }, EXEC_KILL_GRACE_MS);
  };
  const onAbort = () => stop('signal');
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const stepTimer = step.timeoutMs === undefined ? undefined : setTimeout(() => stop('timeout'), step.timeoutMs);
  let exit: { code: number | null; signal: NodeJS.Signals | null };
  try {
    exit = await exited;
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    clearTimeout(stepTimer);
    clearTimeout(killTimer);
    // Whatever the command left running in its group goes with it.
    killGroup(pid, 'SIGKILL');
    guardian.done();
  }
  await closed(child);
  const elapsed = performance.now() - t0;

  const status = exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
  const output = [
    `$ ${shown}`,
    `${status} after ${elapsed.toFixed(0)} ms`,
    ...(out.total > 0 ? ['--- stdout ---', out.record('stdout')] : []),
    ...(err.total > 0 ? ['--- stderr ---', err.record('stderr')] : []),
  ].join('\n');

  if (stoppedBy === 'signal') return { status: 'STOPPED', output, message: `process group stopped (${status})` };
  if (stoppedBy === 'timeout') {
    const how = killed ? `SIGKILL after ignoring SIGTERM for ${EXEC_KILL_GRACE_MS} ms` : 'SIGTERM';
    return { status: 'TIMEOUT', output, message: `timed out after ${step.timeoutMs} ms; process group killed with ${how}` };
  }

  const failures: string[] = [];
  const want = step.expect?.exitCode ?? 0;
  // A signal nobody here sent is the command misbehaving (a crash): a failed test, not a broken system.
  if (exit.signal) failures.push(`the command was ${status} (expected exit code ${want})`);
  else if (exit.code !== want) failures.push(`expected exit code ${want}, got ${exit.code}`);
  if (step.expect?.stdoutContains !== undefined && !out.searchable().includes(step.expect.stdoutContains)) {
    failures.push(`expected stdout to contain ${JSON.stringify(step.expect.stdoutContains)}`);
  }
  if (step.expect?.stderrContains !== undefined && !err.searchable().includes(step.expect.stderrContains)) {
    failures.push(`expected stderr to contain ${JSON.stringify(step.expect.stderrContains)}`);
  }

  let subSteps: SubStep[] | undefined;
  if (step.junit !== undefined) {
    const ingested = await ingest(cwd, step.junit);
    if ('error' in ingested) {
      const message = `${ingested.error} (the command ended with ${status})`;
      return { status: 'ERROR', output, message, error: plain('JUNIT_INVALID', message) };
    }
    subSteps = ingested.cases;
    const failed = subSteps.filter((c) => c.status === 'FAILED' || c.status === 'ERROR').length;
    if (failed > 0) failures.push(`${failed} of ${subSteps.length} JUnit test cases failed`);
  }
  const result: ActionResult =
    failures.length === 0 ? { status: 'PASSED', output } : { status: 'FAILED', output, message: failures.join('; ') };
  if (subSteps) result.subSteps = subSteps;
  return result;
}

/** A JUnit file larger than this is refused rather than read into the worker thread's memory. */
const MAX_JUNIT_BYTES = 16 * 1024 * 1024;

async function ingest(cwd: string, path: string): Promise<{ cases: SubStep[] } | { error: string }> {
  const problem = junitPathProblem(path);
  if (problem) return { error: `JUnit file ${path} ${problem}` };
  let xml: string;
  try {
    // The command wrote the file; a symbolic link out of the working directory is not followed.
    const root = await realpath(cwd);
    const file = await realpath(join(cwd, path));
    if (!file.startsWith(root + sep)) return { error: `JUnit file ${path} resolves outside the working directory` };
    const size = (await stat(file)).size;
    if (size > MAX_JUNIT_BYTES) return { error: `JUnit file ${path} is ${size} bytes: more than the ${MAX_JUNIT_BYTES} read` };
    xml = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { error: code === 'ENOENT' ? `JUnit file ${path} was not written` : `JUnit file ${path} cannot be read: ${(e as Error).message}` };
  }
  try {
    return { cases: parseJunit(xml) };
  } catch (e) {
    return { error: `JUnit file ${path} is not JUnit XML: ${(e as Error).message}` };
  }
}
