import type { TransitionEvent } from '../bus/bus.port.js';
import { CONFIG_DEFAULTS, loadConfig } from '../core/config.js';
import { createLogger } from '../core/log.js';
import { RunRequestSchema } from '../core/schemas.js';
import { createEngine } from '../engine/create-engine.js';
import { storedRunReport } from '../report/stored-tests.js';
import { runView } from '../http/views.js';
import { createProgress, type ProgressForm, type ProgressView } from './progress.js';
import { applyRunFlags, readRunFile, type RunFlags } from './run-file.js';
import { finishRun, type ReportFiles } from './summary.js';

export interface RunCommandOptions extends ReportFiles {
  flags?: RunFlags;
  /** @defaultValue 'lines' */
  progress?: ProgressForm;
}

const LOCAL_PRINCIPAL = { id: 'local', roles: ['admin'] as const };

/**
 * The queue bound of an in-process run: the file's items on top of the server default, which leaves the same room
 * for executions resumed from the data dir. A file naming a suite gets room for the largest run.
 */
export function embeddedQueueSize(body: Record<string, unknown>): number {
  const items = Array.isArray(body.items) ? body.items.length : (RunRequestSchema.properties.items.maxItems ?? 0);
  return CONFIG_DEFAULTS.QUEUE_MAX_QUEUE_SIZE + items;
}

/**
 * `troupe run <file|dir>` in embedded mode: an in-process engine on TROUPE_DATA_DIR runs the file to the end.
 * Returns the exit code: 0 when every execution passed or was skipped, 1 otherwise.
 */
export async function runCommand(path: string, options: RunCommandOptions): Promise<number> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const body = applyRunFlags(await readRunFile(path), options.flags ?? {});
  // The bound protects a shared server; here one user runs one file, so the queue is sized to it (an explicit
  // QUEUE_MAX_QUEUE_SIZE still wins).
  const config = loadConfig({ ...process.env, QUEUE_MAX_QUEUE_SIZE: process.env.QUEUE_MAX_QUEUE_SIZE || String(embeddedQueueSize(body)) });
  const logger = createLogger(config.LOGGING_LEVEL === 'info' ? 'warn' : config.LOGGING_LEVEL);
  const engine = await createEngine(config, logger);
  const started = Date.now();
  // Ctrl-C or a CI cancel: stop cleanly; everything accepted stays in the data dir and resumes on the next start.
  let interrupted: ((code: number) => void) | null = null;
  const interruption = new Promise<number>((resolve) => (interrupted = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`troupe: ${signal}: stopping; run the same file again to resume\n`);
    interrupted?.(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const seen: TransitionEvent[] = [];
    let progress: ProgressView | null = null;
    let runId: string | null = null;
    const unsubscribe = engine.bus.subscribeTransitions((event) => {
      if (progress && event.runId === runId) progress.onTransition(event);
      else if (!progress) seen.push(event);
    });
    body.context ??= 'CI_CD';
    const run = await engine.coordinator.submitRun(body, LOCAL_PRINCIPAL);
    runId = run.id;
    const items = (body.items as { name: string }[] | undefined) ?? [];
    const names = new Map(run.executionIds.map((id, i) => [id, items[i]?.name ?? id]));
    out(`${run.created ? 'Submitted' : 'Resuming'} run ${run.id}: ${run.executionIds.length} execution(s)`);
    progress = createProgress({ form: options.progress ?? 'lines', total: run.executionIds.length, names, write: (text) => process.stdout.write(text) });
    for (const event of seen) if (event.runId === run.id) progress.onTransition(event);
    // The engine's timers (scheduled items, retry backoffs) do not hold the process open, so the wait does: a run
    // of items due later must not end the process with its run unfinished.
    const holdOpen = setInterval(() => undefined, 1 << 30);
    const status = await Promise.race([engine.coordinator.waitForRun(run.id), interruption]).finally(() => clearInterval(holdOpen));
    progress.stop();
    if (typeof status === 'number') return status;
    unsubscribe();
    const stored = await engine.store.getRun(run.id);
    if (!stored) throw new Error(`run ${run.id} is not in the store`);
    const report = await storedRunReport(engine.store, stored, runView(stored, await engine.store.runCounts(run.id)));
    return await finishRun(out, report, started, options);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await engine.close();
  }
}
