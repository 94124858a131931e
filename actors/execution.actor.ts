import { createActor, type Actor, type AnyActorRef } from 'xstate';
import {
  executionMachine,
  type ExecutionEvent,
  type ExecutionMachineContext,
  type ExecutionMachineInput,
  type TransitionRecord,
} from '../machines/execution.machine.js';
import type { Bus } from '../src/bus/bus.port.js';
import type { Clock } from '../src/core/clock.js';
import type { Logger } from '../src/core/log.js';
import { isTerminal, type EventType, type Status } from '../src/core/statuses.js';
import type { ExecutionRecord, StepRecord, Store, WriteOutcome } from '../src/store/store.port.js';
import { executionSystemId, type QueueChange } from './scheduler.actor.js';
import { stopChild } from './system.js';

/** What execution actors need from the engine that hosts them. */
export interface ExecutionHost {
  store: Store;
  bus: Bus;
  clock: Clock;
  logger: Logger;
  root: AnyActorRef;
  /** A change of the scheduler's waiting line; those of one tick reach the scheduler as one event. */
  queueChange(change: QueueChange): void;
  /** A slot given back to the governor; those of one tick reach it as one event. */
  releaseSlot(executionId: string): void;
  /** The pool (job subject) an item's jobs go to: where workers with the labels it requires take them. */
  poolFor(item: ExecutionRecord['item']): Promise<string>;
  /**
   * Slack after a run deadline before the coordinator itself declares TIMEOUT (the worker normally reports
   * it first); covers lost workers.
   */
  watchdogGraceMs: number;
  actors: Map<string, ExecutionActor>;
  /**
   * Synchronously with each applied transition, before it is stored: run supervisors must see a failure
   * before the scheduler can start anything else (failFast).
   */
  onTransition(actor: ExecutionActor, record: TransitionRecord): void;
  /** A conditional write was refused or failed: the in-memory actor no longer matches the store. */
  onWriteRejected(actor: ExecutionActor, outcome: Exclude<WriteOutcome, 'applied'> | Error): void;
  /** A MANUAL execution entered RUNNING: nothing goes to a worker; the engine asks a person for the next verdict. */
  onManualRunning(actor: ExecutionActor): void;
}

type Provided = ReturnType<typeof provideMachine>;

/** The lifecycle machine has no child actors and no history states: one empty object serves every snapshot. */
const NONE = Object.freeze({});

/** Ignored when restoring a snapshot, but required by the machine's input type. */
const RESTORED_INPUT: ExecutionMachineInput = {
  id: '',
  at: 0,
  actor: '',
  retry: { maxAttempts: 1, delayMs: 0, backoff: 'fixed', maxDelayMs: 0, jitter: 0, retryOn: [] },
  timeoutMs: 0,
};

/** The lifecycle machine with its effect hook bound to the host's actor table. */
export function provideMachine(host: ExecutionHost) {
  return executionMachine.provide({
    actions: {
      emitTransition: ({ context }) => host.actors.get(context.id)?.persist(context),
    },
  });
}

export interface ApplyOptions {
  actor: string;
  reason?: string;
  retryable?: boolean;
  steps?: StepRecord[];
}

/**
 * One execution: an XState actor running the lifecycle machine, plus the effects of each transition —
 * persisted (conditional on the version), then published, then timers, queueing and job dispatch.
 */
export class ExecutionActor {
  readonly id: string;
  readonly ref: Actor<Provided>;
  private timer: unknown = null;
  private jobId: string | null = null;
  private pendingSteps: StepRecord[] | undefined;
  private lastWrite: Promise<WriteOutcome> = Promise.resolve('applied');

  constructor(
    private readonly host: ExecutionHost,
    machine: Provided,
    readonly meta: Omit<ExecutionRecord, 'status' | 'attempt' | 'machine' | 'version' | 'updatedAt'>,
    status: Status,
    context: ExecutionMachineContext,
  ) {
    this.id = meta.id;
    host.actors.set(this.id, this);
    // A persisted snapshot, restored by the actor itself: `machine.resolveState` first would compute the state
    // nodes twice.
    this.ref = createActor(machine, {
      parent: host.root,
      systemId: executionSystemId(this.id),
      snapshot: { status: isTerminal(status) ? 'done' : 'active', value: status, context, children: NONE, historyValue: NONE } as never,
      input: RESTORED_INPUT,
    });
    this.ref.start();
  }

  get status(): Status {
    return this.ref.getSnapshot().value;
  }

  get context(): ExecutionMachineContext {
    return this.ref.getSnapshot().context;
  }

  /** The id of the job of the current attempt while it is out on the bus. */
  get currentJobId(): string | null {
    return this.jobId;
  }

  /**
   * Applies a lifecycle event. Returns null when it is illegal in the current status (nothing changes),
   * else the outcome of its conditional write.
   */
  apply(type: EventType, options: ApplyOptions): Promise<WriteOutcome> | null {
    const event: ExecutionEvent = {
      type,
      at: this.host.clock.now(),
      actor: options.actor,
      random: Math.random(),
      ...(options.reason === undefined ? {} : { reason: options.reason }),
      ...(options.retryable === undefined ? {} : { retryable: options.retryable }),
    };
    // Sent without a `can` probe (which would compute the transition twice): an event the machine does not
    // take leaves the sequence where it was.
    const seq = this.context.seq;
    this.pendingSteps = options.steps;
    this.ref.send(event);
    this.pendingSteps = undefined;
    return this.context.seq === seq ? null : this.lastWrite;
  }

  /** Called by the machine's effect hook, synchronously with each applied transition. */
  persist(context: ExecutionMachineContext): void {
    const record = context.last;
    this.clearTimer();
    if (record.from === 'RUNNING') this.leaveRunning(record);
    if ((record.from === 'PENDING' || record.from === 'RETRYING') && record.to !== 'RUNNING') {
      this.host.queueChange({ remove: this.id });
    }
    const steps = this.pendingSteps;
    const write = this.host.store.applyTransition({
      executionId: this.id,
      runId: this.meta.runId,
      expectedVersion: context.seq - 1,
      machine: context,
      ...(steps ? { steps: { attempt: record.attempt, items: steps } } : {}),
    });
    this.lastWrite = write;
    this.host.onTransition(this, record);
    write.then(
      (outcome) => (outcome === 'applied' ? this.settle(record) : this.host.onWriteRejected(this, outcome)),
      (err: unknown) => this.host.onWriteRejected(this, err instanceof Error ? err : new Error(String(err))),
    );
  }

  private leaveRunning(record: TransitionRecord): void {
    this.host.releaseSlot(this.id);
    const jobId = this.jobId;
    this.jobId = null;
    if (jobId !== null && record.to !== 'RUNNING') {
      // The job is still out (the transition did not come from its result): stop it.
      void this.host.bus
        .publishControl({
          type: record.to === 'ABORTED' ? 'abort' : 'cancel',
          jobId,
          executionId: this.id,
          reason: record.reason ?? `execution ${record.to}`,
        })
        .catch((err: unknown) => this.host.logger.warn({ err, executionId: this.id }, 'stop request not sent'));
    }
  }

  /** The job's result arrived: the job is no longer out. */
  jobFinished(jobId: string): boolean {
    if (this.jobId !== jobId) return false;
    this.jobId = null;
    return true;
  }

  private settle(record: TransitionRecord): void {
    void this.host.bus
      .publishTransition({ type: 'transition', executionId: this.id, runId: this.meta.runId, ...record })
      .catch((err: unknown) => this.host.logger.warn({ err, executionId: this.id }, 'transition not published'));
    // Entry effects belong to the newest transition only; a later one brings its own.
    if (this.context.seq === record.seq) this.enter(record.to);
  }

  /**
   * Resumes a RUNNING execution restored after a restart on a durable bus: its job (or its result) is still on
   * the bus, so it waits for it. The job is published again only when asked (its first publish may have been
   * lost with the old process; the bus drops the copy within its duplicate window).
   */
  resumeRunning(republish: boolean): void {
    const ctx = this.context;
    this.dispatch(ctx, republish);
    this.at(ctx.runDeadlineAt === null ? null : ctx.runDeadlineAt + this.host.watchdogGraceMs, () =>
      this.apply('TIMEOUT', { actor: 'timer', reason: 'no result from the worker by the run deadline' }),
    );
  }

  /** Arms what the current status waits for. Also used to resume an actor restored after a restart. */
  enter(status: Status): void {
    const ctx = this.context;
    switch (status) {
      case 'SCHEDULED':
        this.at(ctx.scheduledAt, () => this.apply('DUE', { actor: 'timer', reason: 'scheduled time reached' }));
        break;
      case 'PENDING':
        this.enqueue();
        this.at(ctx.queueDeadlineAt, () =>
          this.apply('TIMEOUT', { actor: 'timer', reason: 'queue deadline passed before a slot was free' }),
        );
        break;
      case 'RUNNING':
        if (this.meta.item.type === 'MANUAL') {
          this.host.onManualRunning(this);
          break;
        }
        this.dispatch(ctx);
        this.at(ctx.runDeadlineAt === null ? null : ctx.runDeadlineAt + this.host.watchdogGraceMs, () =>
          this.apply('TIMEOUT', { actor: 'timer', reason: 'no result from the worker by the run deadline' }),
        );
        break;
      case 'PAUSED':
        this.at(ctx.pauseDeadlineAt, () => this.apply('TIMEOUT', { actor: 'timer', reason: 'pause deadline passed' }));
        break;
      case 'RETRYING':
        this.at(ctx.retryAt ?? this.host.clock.now(), () => this.enqueue());
        break;
      default:
        if (isTerminal(status)) this.finish();
    }
  }

  private enqueue(): void {
    const { meta } = this;
    this.host.queueChange({
      add: { executionId: this.id, priority: meta.priority, owner: meta.owner, runId: meta.runId, enqueuedAt: this.host.clock.now() },
    });
  }

  private dispatch(ctx: ExecutionMachineContext, publish = true): void {
    // Named after the transition into RUNNING: unique for ever, so a stale result is never taken for current,
    // and the same job when it is published again after a restart (a durable bus drops the duplicate).
    const jobId = `${this.id}:${ctx.seq}`;
    this.jobId = jobId;
    if (!publish) return;
    this.host
      .poolFor(this.meta.item)
      .then((pool) => {
        // The execution left RUNNING while its pool was being declared: nobody must run the job.
        if (this.jobId !== jobId) return;
        return this.host.bus.publishJob({
          jobId,
          executionId: this.id,
          runId: this.meta.runId,
          attempt: ctx.attempt,
          pool,
          item: this.meta.item,
          deadlineAt: ctx.runDeadlineAt ?? this.host.clock.now() + ctx.timeoutMs,
        });
      })
      .catch((err: unknown) => {
        this.host.logger.error({ err, executionId: this.id }, 'job not published');
        if (this.jobFinished(jobId)) void this.apply('ERROR', { actor: 'engine', reason: 'the job could not be queued' });
      });
  }

  private at(when: number | null, fire: () => unknown): void {
    if (when === null) return;
    const clock = this.host.clock;
    // Node's timers run on the event loop's cached millisecond clock and can fire a millisecond before the wall
    // clock reaches `when`; a deadline never passes early, so an early timer is armed again for the rest.
    this.timer = clock.setTimeout(() => {
      this.timer = null;
      if (clock.now() < when) this.at(when, fire);
      else fire();
    }, Math.max(0, when - clock.now()));
  }

  private clearTimer(): void {
    if (this.timer !== null) this.host.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /** Stops the actor and forgets it; its record stays in the store. */
  finish(): void {
    this.clearTimer();
    this.host.actors.delete(this.id);
    stopChild(this.ref);
  }

}
