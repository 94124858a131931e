import { Command, CommanderError } from 'commander';
import { loadCliConfig } from '../core/config.js';
import { TroupeError } from '../core/errors.js';
import { progressForm } from './progress.js';
import { remoteRunCommand, remoteStatusCommand } from './remote-run.js';
import type { RunFlags } from './run-file.js';
import { runCommand } from './run.command.js';
import { checkReportFiles } from './summary.js';
import { serveCommand } from './serve.command.js';
import { statusCommand } from './status.command.js';
import { workerCommand, type WorkerCommandOptions } from './worker.command.js';

const cli = loadCliConfig();
// A bar on an interactive terminal, plain lines in CI logs: decided once, here.
const progress = progressForm(process.stdout, cli.CI);

/**
 * Exit codes (SPEC §8): 0 all passed or were skipped, 1 a test did not pass (or the engine failed), 2 a bad file,
 * flag or configuration, 3 the server could not be reached or refused the credentials.
 */
const program = new Command()
  .name('troupe')
  .description('Troupe test execution engine')
  .exitOverride()
  .showHelpAfterError();

program
  .command('run')
  .description('run a JSON run file (or a directory of them) in an in-process engine')
  .argument('<file>', 'a file holding a POST /v1/runs body, or a directory of such files')
  .option('--wait', 'wait until every execution has finished (always so in embedded mode)', true)
  .option('--junit <path>', 'write a JUnit XML report')
  .option('--json <path>', 'write the JSON report (the same as GET /v1/runs/:id/report)')
  .option('--html <path>', 'write the report as one self-contained HTML page (failures first)')
  .option('--label <key=value>', 'a label on the run (repeatable; over the file\'s labels)', (value: string, all: string[]) => [...all, value], [])
  .option('--fail-fast', 'stop the rest of the run at the first test that does not pass')
  .option('--max-parallel <n>', 'at most n of the run\'s executions at once')
  .option('--priority <priority>', 'the run\'s priority: CRITICAL, HIGH, NORMAL, LOW or DEFERRED')
  .option('--server <url>', 'submit to a Troupe server instead of running in-process (or TROUPE_SERVER)')
  .option('--token <token>', 'API key or JWT for --server (or TROUPE_TOKEN)')
  .action(async (file: string, opts: RunFlags & { wait?: boolean; junit?: string; json?: string; html?: string; server?: string; token?: string }) => {
    const server = opts.server ?? cli.TROUPE_SERVER;
    const token = opts.token ?? cli.TROUPE_TOKEN;
    const files = { ...(opts.junit ? { junit: opts.junit } : {}), ...(opts.json ? { json: opts.json } : {}), ...(opts.html ? { html: opts.html } : {}) };
    checkReportFiles(files);
    const flags: RunFlags = {
      ...(opts.label ? { label: opts.label } : {}),
      ...(opts.failFast ? { failFast: true } : {}),
      ...(opts.maxParallel !== undefined ? { maxParallel: opts.maxParallel } : {}),
      ...(opts.priority !== undefined ? { priority: opts.priority } : {}),
    };
    process.exitCode = server
      ? await remoteRunCommand(file, { server, ...(token ? { token } : {}), ...files, flags, progress })
      : await runCommand(file, { ...files, flags, progress });
  });

program
  .command('serve')
  .description('serve the HTTP API and live channels over the embedded engine (PORT, TROUPE_DATA_DIR)')
  .option('--no-workers', 'run no local worker pool (API and coordinator only)')
  .action(async (opts: { workers: boolean }) => {
    process.exitCode = await serveCommand(opts);
  });

program
  .command('worker')
  .description('run an agent of distributed mode: pull jobs from NATS JetStream (NATS_URL) into a local pool')
  .option('--labels <k=v,...>', 'labels this agent offers to items that require them (or TROUPE_AGENT_LABELS)')
  .option('--threads <n>', 'worker threads (or QUEUE_WORKER_COUNT; default: CPUs)')
  .option('--pool <name>', 'base pool to serve (or TROUPE_POOL; default "default")')
  .option('--drain <seconds>', 'on SIGTERM, how long running jobs may finish before they are handed back', '30')
  .action(async (opts: WorkerCommandOptions) => {
    process.exitCode = await workerCommand(opts);
  });

program
  .command('status')
  .description("show an execution's or a run's status from the local data dir")
  .argument('<id>', 'execution id (exe_…) or run id (run_…)')
  .option('--server <url>', 'ask a Troupe server instead of the local data dir (or TROUPE_SERVER)')
  .option('--token <token>', 'API key or JWT for --server (or TROUPE_TOKEN)')
  .action(async (id: string, opts: { server?: string; token?: string }) => {
    const server = opts.server ?? cli.TROUPE_SERVER;
    const token = opts.token ?? cli.TROUPE_TOKEN;
    process.exitCode = server ? await remoteStatusCommand(id, { server, ...(token ? { token } : {}) }) : await statusCommand(id);
  });

/** The server could not be reached, or would not take these credentials. */
const SERVER_REFUSED = new Set(['SERVER_UNREACHABLE', 'UNAUTHENTICATED', 'FORBIDDEN']);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else if (err instanceof TroupeError) {
    process.stderr.write(`troupe: ${err.message}\n`);
    const details = err.details as { path?: string; message?: string }[] | undefined;
    if (Array.isArray(details) && details.length > 1) {
      for (const d of details) process.stderr.write(`  ${d.path ?? ''} ${d.message ?? ''}\n`);
    }
    process.exitCode = SERVER_REFUSED.has(err.code) ? 3 : ['QUEUE_FULL', 'ENGINE_STOPPED', 'BUS_UNAVAILABLE', 'INTERNAL'].includes(err.code) ? 1 : 2;
  } else {
    process.stderr.write(`troupe: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  }
}
