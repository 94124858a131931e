import type { DeadLetter } from '../bus/bus.port.js';
import { TroupeError } from '../core/errors.js';
import type { TestItem } from '../core/schemas.js';
import type { EventType, Priority, RunStatus, Status } from '../core/statuses.js';
import type { ExecutionRecord } from '../store/store.port.js';
import { Commands } from './commands.js';
import { DeadLetters } from './dead-letters.js';
import { Lifecycles, type FinishedRun } from './lifecycles.js';
import { ManualSteps } from './manual.js';
import type { CoordinatorOptions } from './options.js';
import type { Principal } from './principal.js';
import { recover } from './recovery.js';
import { Results } from './results.js';
import { Submissions, type SubmittedRun } from './submissions.js';

export { canSee, type Principal } from './principal.js';
export type { CoordinatorOptions } from './options.js';
export type { SubmittedRun } from './submissions.js';

/**
 * The coordinator: owns the actor system (scheduler, governor, run supervisors, one actor per live execution,
 * in `lifecycles.ts`), accepts submits (`submissions.ts`) and commands (`commands.ts`, `manual.ts`), applies job
 * results and dead letters (`results.ts`, `dead-letters.ts`), and resumes everything after a restart
 * (`recovery.ts`).
 */
export class Coordinator {
  private readonly lifecycles: Lifecycles;
  private readonly submissions: Submissions;
  private readonly commands: Commands;
  private readonly manual: ManualSteps;
  private readonly letters: DeadLetters;
  private readonly results: Results;
  private stopped = false;

  constructor(private readonly options: CoordinatorOptions) {
    this.lifecycles = new Lifecycles(options);
    this.submissions = new Submissions(options, this.lifecycles);
    this.commands = new Commands(options, this.lifecycles);
    this.manual = new ManualSteps(options, this.lifecycles);
    this.letters = new DeadLetters(options, this.submissions);
    this.results = new Results(options.bus, options.store, this.lifecycles);
  }

  /**
   * Resumes every execution the store holds unfinished, then takes results and dead letters: on a durable bus
   * they may be waiting for executions that exist only once resumed.
   */
  async start(): Promise<void> {
    await recover(this.options, this.lifecycles);
    this.results.start();
  }

  /** Checks a test item's definition as a submit does: a type this engine runs, exec steps only when enabled. */
  checkItem(item: unknown, index: number): TestItem {
    return this.submissions.checkItem(item, index);
  }

  /** Validates and durably stores a run with its executions, then starts them. */
  submitRun(body: unknown, principal: Principal): Promise<SubmittedRun> {
    if (this.stopped) return Promise.reject(new TroupeError('ENGINE_STOPPED'));
    return this.submissions.submitRun(body, principal);
  }

  /** A single execution outside any run (POST /v1/executions). */
  submitExecution(body: unknown, principal: Principal): Promise<ExecutionRecord> {
    if (this.stopped) return Promise.reject(new TroupeError('ENGINE_STOPPED'));
    return this.submissions.submitExecution(body, principal);
  }

  /** A new execution of a terminal execution's definition, linked to it by `rerunOf`. */
  retry(executionId: string, principal: Principal): Promise<ExecutionRecord> {
    return this.submissions.retry(executionId, principal);
  }

  /**
   * Applies a user or engine command. Illegal in the current status → ILLEGAL_TRANSITION naming it;
   * unknown or not visible → NOT_FOUND. Written to the audit log.
   */
  command(executionId: string, type: EventType, principal: Principal, reason?: string): Promise<Status> {
    return this.commands.command(executionId, type, principal, reason);
  }

  /** Cancels every unfinished execution of a run; the run ends CANCELLED. */
  cancelRun(runId: string, principal: Principal): Promise<void> {
    return this.commands.cancelRun(runId, principal);
  }

  /** A tester's verdict on step `index` of a PAUSED MANUAL execution (see ManualSteps.verdict). */
  verdict(executionId: string, index: number, body: unknown, principal: Principal): Promise<Status> {
    return this.manual.verdict(executionId, index, body, principal);
  }

  /** Every dead letter the bus holds, oldest first (admin). */
  deadLetters(): Promise<DeadLetter[]> {
    return this.letters.list();
  }

  /** Runs a dead-lettered job's execution again as a new execution linked by `rerunOf`; the letter is removed. */
  redrive(jobId: string, principal: Principal): Promise<ExecutionRecord> {
    return this.letters.redrive(jobId, principal);
  }

  /** Forgets a dead letter without running anything again. */
  discardDeadLetter(jobId: string, principal: Principal): Promise<void> {
    return this.letters.discard(jobId, principal);
  }

  /** Resolves with the run's final status once every execution in it is terminal. */
  async waitForRun(runId: string): Promise<RunStatus> {
    const status = await this.lifecycles.waitForRun(runId);
    if (status === null) throw new TroupeError('NOT_FOUND', `run ${runId} not found`);
    return status;
  }

  /** The owner of an execution this engine holds live (undefined when it holds none by that id). */
  ownerOf(executionId: string): string | undefined {
    return this.lifecycles.actors.get(executionId)?.meta.owner;
  }

  queueDepth(): Record<Priority, number> {
    return this.lifecycles.queueDepth();
  }

  liveByStatus(): Partial<Record<Status, number>> {
    return this.lifecycles.liveByStatus();
  }

  /** Calls `listener` when a run reaches its final status (after it is stored). */
  onRunFinished(listener: (run: FinishedRun) => void): () => void {
    return this.lifecycles.onRunFinished(listener);
  }

  /** Live figures for metrics and back-pressure. */
  stats(): { live: number; running: number; queued: number } {
    return this.lifecycles.stats();
  }

  /** Stops taking submits and results and stops every actor; the store keeps what was acknowledged. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.lifecycles.stopped = true;
    await this.results.stop();
    await this.options.store.flush();
    this.lifecycles.stop();
  }
}
