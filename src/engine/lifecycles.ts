import { createActor, fromTransition, type AnyActorRef } from 'xstate';
import type { TransitionRecord } from '../../machines/execution.machine.js';
import { ExecutionActor, provideMachine, type ExecutionHost } from '../../actors/execution.actor.js';
import { createGovernorLogic, type GovernorRef } from '../../actors/governor.actor.js';
import {
  NOT_PASSING,
  aggregateRunStatus,
  createRunSupervisorLogic,
  runSystemId,
  type RunSupervisorRef,
} from '../../actors/run-supervisor.actor.js';
import { createSchedulerLogic, type QueueChange, type SchedulerRef } from '../../actors/scheduler.actor.js';
import { stopChild } from '../../actors/system.js';
import { TickBatch } from '../../actors/tick-batch.js';
import { DEFAULT_POOL } from '../bus/bus.port.js';
import { requirementPool } from '../core/routing.js';
import type { TestItem } from '../core/schemas.js';
import { isTerminal, type Priority, type RunStatus, type Status } from '../core/statuses.js';
import type { ExecutionRecord, RunRecord, WriteOutcome } from '../store/store.port.js';
import type { CoordinatorOptions } from './options.js';

export interface FinishedRun {
  id: string;
  status: RunStatus;
  createdAt: number;
  finishedAt: number;
}

/**
 * The actor system of the engine: the root, the scheduler, the resource governor, a supervisor per unfinished
 * run and an actor per unfinished execution. Starts executions, follows runs to their final status, and keeps
 * the actors in step with the store.
 */
export class Lifecycles {
  readonly root: AnyActorRef;
  readonly governor: GovernorRef;
  readonly scheduler: SchedulerRef;
  readonly actors = new Map<string, ExecutionActor>();
  private readonly host: ExecutionHost;
  private readonly machine: ReturnType<typeof provideMachine>;
  private readonly runWaiters = new Map<string, ((status: RunStatus) => void)[]>();
  private readonly runListeners = new Set<(run: FinishedRun) => void>();
  /** Requirement pools declared on the bus (once each per process). */
  private readonly declaredPools = new Map<string, Promise<void>>();
  /** What arrives for the scheduler, the governor and each run supervisor in one tick goes to it as one event. */
  private readonly queueChanges = new TickBatch<QueueChange>((changes) => this.scheduler.send({ type: 'queue', changes }));
  private readonly releases = new TickBatch<string>((executionIds) => this.governor.send({ type: 'release', executionIds }));
  private readonly memberChanges = new Map<string, TickBatch<readonly [string, Status]>>();
  /** A MANUAL execution entered RUNNING: what decides its next step (set by the commands). */
  onManualRunning: (actor: ExecutionActor) => void = () => undefined;
  stopped = false;

  constructor(private readonly options: CoordinatorOptions) {
    // The root only hosts the actor system. Not a machine: a machine caches a lookup per distinct event type,
    // and every finished execution sends its parent a unique `xstate.done.actor.<id>`.
    this.root = createActor(fromTransition((state: null) => state, null), { systemId: 'engine' });
    this.root.start();
    this.governor = createActor(
      createGovernorLogic({
        maxConcurrent: options.maxConcurrent,
        onRelease: () => this.scheduler.send({ type: 'wake' }),
      }),
      { parent: this.root, systemId: 'governor' },
    );
    this.scheduler = createActor(createSchedulerLogic({ clock: options.clock, agingMs: options.agingMs }), {
      parent: this.root,
      systemId: 'scheduler',
    });
    this.governor.start();
    this.scheduler.start();
    this.host = {
      store: options.store,
      bus: options.bus,
      clock: options.clock,
      logger: options.logger,
      root: this.root,
      queueChange: (change) => this.queueChanges.add(change),
      releaseSlot: (executionId) => this.releases.add(executionId),
      poolFor: (item) => this.poolFor(item),
      watchdogGraceMs: options.watchdogGraceMs ?? 5000,
      actors: this.actors,
      onTransition: (actor, record) => this.transitioned(actor, record),
      onWriteRejected: (actor, outcome) => void this.resync(actor, outcome),
      onManualRunning: (actor) => this.onManualRunning(actor),
    };
    this.machine = provideMachine(this.host);
  }

  /** An actor for a stored execution, in the status and machine context the store holds. */
  spawn(record: ExecutionRecord): ExecutionActor {
    const { status, machine, attempt: _a, version: _v, updatedAt: _u, ...meta } = record;
    return new ExecutionActor(this.host, this.machine, meta, status, machine);
  }

  /** A stored new execution: publish its creation event and arm its first status. */
  begin(record: ExecutionRecord, actor: ExecutionActor = this.spawn(record)): void {
    void this.options.bus
      .publishTransition({ type: 'transition', executionId: record.id, runId: record.runId, ...record.machine.last })
      .catch((err: unknown) => this.options.logger.warn({ err, executionId: record.id }, 'transition not published'));
    actor.enter(record.status);
  }

  /** A supervisor for an unfinished run whose members have these statuses. */
  supervise(run: RunRecord, members: { id: string; status: Status }[]): void {
    const logic = createRunSupervisorLogic({
      runId: run.id,
      failFast: run.failFast,
      status: run.status,
      members: members.map((m) => [m.id, m.status]),
      clock: this.options.clock,
      onStatus: (runId, status) => this.runStatusChanged(runId, status),
    });
    const supervisor = createActor(logic, { parent: this.root, systemId: runSystemId(run.id) });
    supervisor.start();
    supervisor.send({ type: 'reconcile' });
    this.governor.send({ type: 'limitRun', runId: run.id, maxParallel: run.maxParallel });
    const state = supervisor.getSnapshot().context;
    const actual = aggregateRunStatus(state, state.members.size);
    if (actual !== run.status) this.runStatusChanged(run.id, actual);
  }

  /** The run's supervisor while the run is unfinished. */
  supervisorOf(runId: string): RunSupervisorRef | undefined {
    return this.root.system.get(runSystemId(runId)) as RunSupervisorRef | undefined;
  }

  /** Executions waiting to start (or to be started again), for the queue bound. */
  waitingCount(): number {
    return this.actors.size - this.governor.getSnapshot().context.running;
  }

  /** The pool an item's jobs go to; a requirement pool is declared on the bus before its first job. */
  private poolFor(item: TestItem): Promise<string> {
    const base = this.options.pool ?? DEFAULT_POOL;
    if (!item.requires || Object.keys(item.requires).length === 0) return Promise.resolve(base);
    const pool = requirementPool(base, item.requires);
    let declared = this.declaredPools.get(pool);
    if (!declared) {
      declared = this.options.bus.declarePool(pool, item.requires);
      declared.catch(() => this.declaredPools.delete(pool));
      this.declaredPools.set(pool, declared);
    }
    return declared.then(() => pool);
  }

  private runStatusChanged(runId: string, status: RunStatus): void {
    const at = this.options.clock.now();
    const final = status !== 'PENDING' && status !== 'RUNNING';
    void (async () => {
      // A run is final in the store only once its executions' last transitions are stored.
      if (final) await this.options.store.flush();
      await this.options.store.setRunStatus(runId, status, at);
      if (!final) return;
      const supervisor = this.supervisorOf(runId);
      if (supervisor) stopChild(supervisor);
      this.memberChanges.delete(runId);
      this.governor.send({ type: 'limitRun', runId, maxParallel: null });
      for (const resolve of this.runWaiters.get(runId) ?? []) resolve(status);
      this.runWaiters.delete(runId);
      // After the waiters: a run's end is not held up by its history (compare reads an unrecorded run live).
      void this.options.store.recordRunHistory(runId, at).catch((err: unknown) => this.options.logger.error({ err, runId }, 'run history not stored'));
      if (this.runListeners.size > 0) {
        const run = await this.options.store.getRun(runId);
        if (run) for (const listener of this.runListeners) listener({ id: runId, status, createdAt: run.createdAt, finishedAt: at });
      }
    })().catch((err: unknown) => this.options.logger.error({ err, runId, status }, 'run status not stored'));
  }

  private transitioned(actor: ExecutionActor, record: TransitionRecord): void {
    const runId = actor.meta.runId;
    if (runId === null) return;
    let batch = this.memberChanges.get(runId);
    if (!batch) {
      batch = new TickBatch((changes) => this.supervisorOf(runId)?.send({ type: 'members', changes }));
      this.memberChanges.set(runId, batch);
    }
    batch.add([actor.id, record.to]);
    // failFast must stop the rest before the scheduler can start any of it: a failure is not held to the tick's end.
    if (NOT_PASSING.has(record.to)) batch.flush();
  }

  /** The in-memory actor disagrees with the store: rebuild it from the stored record. */
  private async resync(actor: ExecutionActor, outcome: Exclude<WriteOutcome, 'applied'> | Error): Promise<void> {
    actor.finish();
    const failure = this.options.store.failure();
    if (failure) {
      // The store takes no more writes: rebuilding the actor would only retry the same write for ever (and start a
      // RUNNING execution's job again). What is stored stays as it is; a restart resumes it.
      this.options.logger.error({ executionId: actor.id, err: failure }, 'transition not stored: the store takes no more writes; the execution resumes after a restart');
      return;
    }
    this.options.logger.warn({ executionId: actor.id, outcome: String(outcome) }, 'transition not stored; resyncing');
    const record = await this.options.store.getExecution(actor.id);
    if (record && !isTerminal(record.status) && !this.actors.has(record.id) && !this.stopped) {
      this.spawn(record).enter(record.status);
    }
  }

  /** Resolves with the run's final status once every execution in it is terminal. */
  async waitForRun(runId: string): Promise<RunStatus | null> {
    // Registered before the store is read: the run may end in between.
    let waiter!: (status: RunStatus) => void;
    const pending = new Promise<RunStatus>((resolve) => (waiter = resolve));
    this.runWaiters.set(runId, [...(this.runWaiters.get(runId) ?? []), waiter]);
    const run = await this.options.store.getRun(runId);
    if (run && (run.status === 'PENDING' || run.status === 'RUNNING')) return pending;
    // Nothing to wait for: the waiter goes, or it would stay for ever.
    const rest = (this.runWaiters.get(runId) ?? []).filter((w) => w !== waiter);
    if (rest.length > 0) this.runWaiters.set(runId, rest);
    else this.runWaiters.delete(runId);
    return run ? run.status : null;
  }

  onRunFinished(listener: (run: FinishedRun) => void): () => void {
    this.runListeners.add(listener);
    return () => this.runListeners.delete(listener);
  }

  queueDepth(): Record<Priority, number> {
    return this.scheduler.getSnapshot().context.queue.depthByPriority();
  }

  liveByStatus(): Partial<Record<Status, number>> {
    const counts: Partial<Record<Status, number>> = {};
    for (const actor of this.actors.values()) counts[actor.status] = (counts[actor.status] ?? 0) + 1;
    return counts;
  }

  stats(): { live: number; running: number; queued: number } {
    const running = this.governor.getSnapshot().context.running;
    return { live: this.actors.size, running, queued: this.scheduler.getSnapshot().context.queue.size };
  }

  /** Stops every actor; the store keeps what was acknowledged. */
  stop(): void {
    this.stopped = true;
    for (const actor of [...this.actors.values()]) actor.finish();
    this.root.stop();
  }
}
