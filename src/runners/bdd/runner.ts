import { loadConfig } from '../../core/config.js';
import { toPlainError, type PlainError } from '../../core/errors.js';
import type { PoolOutcome, PoolStep } from '../../pool/protocol.js';
import { stopReasonOf, type Runner, type RunnerContext } from '../runner.js';
import { stepRegistry } from './library.js';
import { planFeature, type PlannedScenario, type PlannedStep } from './parse.js';
import { SCENARIO_SEPARATOR } from './scenarios.js';
import { snippetFor } from './snippets.js';
import { DataTable, type StepRegistry } from './steps.js';
import { World, isFailure } from './world.js';

/** Tags that skip a scenario (on the scenario, its Examples, its Rule or the Feature). */
const SKIP_TAGS = new Set(['@skip', '@wip']);

type ScenarioStatus = 'PASSED' | 'FAILED' | 'ERROR' | 'SKIPPED' | 'STOPPED';

interface ScenarioResult {
  status: ScenarioStatus;
  /** Why it did not pass: names the scenario, the step and its line. */
  reason?: string;
  error?: PlainError;
}

let stepsDir: { value: string | undefined } | null = null;

/** TROUPE_BDD_STEPS_DIR as this worker thread's environment says, read once per thread. */
function configuredStepsDir(): string | undefined {
  stepsDir ??= { value: loadConfig().TROUPE_BDD_STEPS_DIR };
  return stepsDir.value;
}

/** Settles with `work`, or rejects as soon as the signal fires, so a step that ignores it cannot hold the run. */
function untilStopped<T>(work: () => T | Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error('stopped'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('stopped'));
    signal.addEventListener('abort', onAbort, { once: true });
    const done = () => signal.removeEventListener('abort', onAbort);
    Promise.resolve()
      .then(work)
      .then(
        (value) => {
          done();
          resolve(value);
        },
        (err: unknown) => {
          done();
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
  });
}

/** Arguments for the step function: parameters, then the doc string or data table, `{name}` filled in. */
function argumentsFor(world: World, step: PlannedStep, params: unknown[]): unknown[] {
  const args = params.map((p) => (typeof p === 'string' ? world.interpolate(p) : p));
  if (step.docString) args.push(world.interpolate(step.docString.content));
  if (step.dataTable) args.push(new DataTable(step.dataTable.map((row) => row.map((cell) => world.interpolate(cell)))));
  return args;
}

function definitionError(message: string): PlainError {
  return { code: 'VALIDATION_FAILED', message, retryable: false };
}

class ScenarioRun {
  private readonly world: World;
  result: ScenarioResult = { status: 'PASSED' };

  constructor(
    private readonly scenario: PlannedScenario,
    private readonly registry: StepRegistry,
    private readonly ctx: RunnerContext,
    private readonly out: PoolStep[],
  ) {
    this.world = new World(ctx.signal);
  }

  private record(step: PlannedStep, status: PoolStep['status'], startedAt: number, t0: number, extra: Partial<PoolStep> = {}): void {
    const name = `${this.scenario.label}${SCENARIO_SEPARATOR}${step.keyword}${step.text}`;
    const durationMs = t0 === 0 ? 0 : Math.round(performance.now() - t0);
    const output = this.world.takeOutput();
    this.out.push({ index: this.out.length, name, status, startedAt, durationMs, ...(output ? { output } : {}), ...extra });
  }

  private end(status: ScenarioStatus, step: PlannedStep, message: string, error?: PlainError): void {
    const where = `at line ${step.line} (${step.keyword}${step.text})`;
    this.result = { status, reason: `scenario "${this.scenario.label}" ${status === 'FAILED' ? 'failed' : 'errored'} ${where}: ${message}` };
    if (error) this.result.error = error;
  }

  async run(): Promise<ScenarioResult> {
    const skipTag = this.scenario.tags.find((t) => SKIP_TAGS.has(t));
    if (skipTag) {
      for (const step of this.scenario.steps) this.record(step, 'SKIPPED', Date.now(), 0, { output: `skipped by tag ${skipTag}` });
      return { status: 'SKIPPED' };
    }
    for (const step of this.scenario.steps) {
      if (this.result.status !== 'PASSED' || this.ctx.signal.aborted) {
        this.record(step, 'SKIPPED', Date.now(), 0);
        continue;
      }
      await this.runStep(step);
    }
    if (this.result.status === 'PASSED' && this.ctx.signal.aborted) this.result = { status: 'STOPPED' };
    return this.result;
  }

  private async runStep(step: PlannedStep): Promise<void> {
    const startedAt = Date.now();
    const found = this.registry.match(step.text);
    if (found.kind === 'undefined') {
      const message = `undefined step "${step.keyword}${step.text}" at line ${step.line}; define it in a module of TROUPE_BDD_STEPS_DIR, for example:\n${snippetFor(step, this.registry.parameterTypes)}`;
      const error = definitionError(message);
      this.record(step, 'ERROR', startedAt, 0, { error });
      return this.end('ERROR', step, message, error);
    }
    if (found.kind === 'ambiguous') {
      const which = found.definitions.map((d) => `"${d.expression.source}" (${d.source})`).join(' and ');
      const message = `ambiguous step "${step.keyword}${step.text}" at line ${step.line} matches ${which}`;
      const error = definitionError(message);
      this.record(step, 'ERROR', startedAt, 0, { error });
      return this.end('ERROR', step, message, error);
    }
    const t0 = performance.now();
    const fn = found.definition.fn as (world: World, ...args: unknown[]) => unknown;
    try {
      const args = argumentsFor(this.world, step, found.args);
      await untilStopped(() => fn(this.world, ...args), this.ctx.signal);
      this.record(step, 'PASSED', startedAt, t0);
    } catch (err) {
      const stop = stopReasonOf(this.ctx.signal);
      if (stop) {
        this.record(step, stop.kind === 'timeout' ? 'TIMEOUT' : 'CANCELLED', startedAt, t0, { error: { code: 'RUNNER_FAILED', message: stop.reason, retryable: false } });
        this.result = { status: 'STOPPED' };
        return;
      }
      const message = err instanceof Error ? err.message : String(err);
      if (isFailure(err)) {
        this.record(step, 'FAILED', startedAt, t0, { error: { code: 'EXPECTATION_FAILED', message, retryable: false } });
        return this.end('FAILED', step, message);
      }
      const error = toPlainError(err);
      if ((err as { retryable?: unknown }).retryable === false) error.retryable = false;
      this.record(step, 'ERROR', startedAt, t0, { error });
      this.end('ERROR', step, `${(err as Error | null)?.name ?? 'Error'}: ${message}`, error);
    }
  }
}

function summarize(results: ScenarioResult[], steps: PoolStep[], ctx: RunnerContext): PoolOutcome {
  const stop = stopReasonOf(ctx.signal);
  if (stop) return { outcome: stop.kind === 'timeout' ? 'TIMEOUT' : 'CANCELLED', reason: stop.reason, steps };
  const total = results.length;
  const errors = results.filter((r) => r.status === 'ERROR');
  const failures = results.filter((r) => r.status === 'FAILED');
  const bad = results.filter((r) => r.status === 'ERROR' || r.status === 'FAILED');
  const lead = (first: ScenarioResult) => (bad.length > 1 ? `${bad.length} of ${total} scenarios did not pass; first: ${first.reason}` : (first.reason ?? null));
  const [firstError] = errors;
  if (firstError) {
    // Retrying helps only when every error may be transient: an undefined step stays undefined.
    const error: PlainError = { ...firstError.error!, retryable: errors.every((r) => r.error?.retryable !== false) };
    return { outcome: 'ERROR', reason: lead(firstError), error, steps };
  }
  const [firstFailure] = failures;
  if (firstFailure) return { outcome: 'FAILED', reason: lead(firstFailure), steps };
  if (results.every((r) => r.status === 'SKIPPED')) {
    return { outcome: 'SKIPPED', reason: `all ${total} scenario${total === 1 ? ' was' : 's were'} skipped by tag`, steps };
  }
  return { outcome: 'PASSED', reason: null, steps };
}

/**
 * Runs a BDD item: each scenario and each Examples row is a step group whose steps are reported as
 * `<scenario label> › <Keyword><text>`. A failed step fails its scenario and skips the scenario's remaining
 * steps; other scenarios still run. The execution is ERROR when any scenario errored (undefined or ambiguous
 * step, a step that threw a non-assertion error, a feature that does not parse), else FAILED when any failed,
 * SKIPPED when every scenario was skipped by `@skip`/`@wip`, else PASSED.
 */
export const bddRunner: Runner = async (item, ctx) => {
  let scenarios: PlannedScenario[];
  let registry: StepRegistry;
  try {
    scenarios = planFeature(item.feature ?? '').scenarios;
  } catch (err) {
    // Submit rejects such features; one can still arrive from an older store or another producer.
    const error = definitionError((err as Error).message);
    return { outcome: 'ERROR', reason: error.message, error, steps: [] };
  }
  try {
    registry = await untilStopped(() => stepRegistry(configuredStepsDir()), ctx.signal);
  } catch (err) {
    const error: PlainError = { ...toPlainError(err, 'CONFIG_INVALID'), retryable: false };
    return { outcome: 'ERROR', reason: error.message, error, steps: [] };
  }
  const steps: PoolStep[] = [];
  const results: ScenarioResult[] = [];
  for (const scenario of scenarios) {
    results.push(await new ScenarioRun(scenario, registry, ctx, steps).run());
  }
  return summarize(results, steps, ctx);
};
