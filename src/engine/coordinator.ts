import { createHash } from 'node:crypto';
import { createActor, fromTransition, type AnyActorRef } from 'xstate';
import type { TransitionRecord } from '../../machines/execution.machine.js';
import { createContext } from '../../machines/execution.machine.js';
import type { RetryPolicy } from '../../machines/retry-policy.js';
import { ExecutionActor, provideMachine, type ExecutionHost } from '../../actors/execution.actor.js';
import { createGovernorLogic, type GovernorRef } from '../../actors/governor.actor.js';
import { TickBatch } from '../../actors/tick-batch.js';
import {
  NOT_PASSING,
  aggregateRunStatus,
  createRunSupervisorLogic,
  runSystemId,
  type RunSupervisorRef,
} from '../../actors/run-supervisor.actor.js';
import { createSchedulerLogic, type QueueChange, type SchedulerRef } from '../../actors/scheduler.actor.js';
import { stopChild } from '../../actors/system.js';
import { DEFAULT_POOL, type Bus, type Consumer, type DeadLetter, type JobOutcome } from '../bus/bus.port.js';
import type { Clock } from '../core/clock.js';
import { TroupeError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { validateItem, type ItemDefinitions } from '../core/items.js';
import { requirementPool } from '../core/routing.js';
import type { Logger } from '../core/log.js';
import {
  ExecutionContextSchema,
  RunEnvelopeSchema,
  VerdictSchema,
  validate,
  type ManualStep,
  type RunRequest,
  type TestItem,
} from '../core/schemas.js';
import {
  isTerminal,
  type EventType,
  type Priority,
  type RunStatus,
  type Status,
} from '../core/statuses.js';
import type { ExecutionRecord, RunRecord, Store, WriteOutcome } from '../store/store.port.js';

/** Who is asking. `id` owns what it submits. */
export interface Principal {
  id: string;
  roles: readonly ('viewer' | 'runner' | 'admin')[];
  /** Where the request came from (client address, `cli`), for the audit log. */
  source?: string;
}

/** Whether `principal` may see a resource owned by `owner`; anything else answers 404 like a missing id. */
export function canSee(principal: Principal, owner: string): boolean {
  return owner === principal.id || principal.roles.includes('admin');
}

export interface CoordinatorOptions {
  store: Store;
  bus: Bus;
  clock: Clock;
  logger: Logger;
  /** Item types some worker can run, each with the check of its definition; other types are rejected at submit. */
  runnable: ItemDefinitions;
  maxConcurrent: number;
  maxQueueSize: number;
  agingMs: number;
  defaultTimeoutMs: number;
  defaultRetry: Pick<RetryPolicy, 'maxAttempts' | 'delayMs'>;
  /**
   * Job subject the coordinator dispatches to.
   * @defaultValue 'default'
   */
  pool?: string;
  /**
   * Slack after a run deadline before the coordinator declares TIMEOUT itself.
   * @defaultValue 5000
   */
  watchdogGraceMs?: number;
  /**
   * Whether items with `exec` steps are accepted (TROUPE_EXEC_ENABLED).
   * @defaultValue false
   */
  execEnabled?: boolean;
}

export interface SubmittedRun {
  id: string;
  status: RunStatus;
  executionIds: string[];
  /** False when an earlier submit with the same idempotency key is returned. */
  created: boolean;
}

const VERDICT_STATUS = { passed: 'PASSED', failed: 'FAILED', skipped: 'SKIPPED' } as const;

const OUTCOME_EVENT: Record<JobOutcome, EventType> = {
  PASSED: 'PASS',
  FAILED: 'FAIL',
  ERROR: 'ERROR',
  TIMEOUT: 'TIMEOUT',
  SKIPPED: 'SKIP',
  // A runner that reports CANCELLED without a stop request stopped on its own: the system failed.
  CANCELLED: 'ERROR',
};

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The coordinator: owns the actor system (scheduler, governor, run supervisors, one actor per live
 * execution), accepts submits and commands, applies job results, and resumes everything after a restart.
 */
export class Coordinator {
  private readonly root: AnyActorRef;
  private readonly host: ExecutionHost;
  private readonly machine: ReturnType<typeof provideMachine>;
  private readonly governor: GovernorRef;
  private readonly scheduler: SchedulerRef;
  private readonly actors = new Map<string, ExecutionActor>();
  private readonly runWaiters = new Map<string, ((status: RunStatus) => void)[]>();
  private readonly runListeners = new Set<
    (run: { id: string; status: RunStatus; createdAt: number; finishedAt: number }) => void
  >();
  private resultConsumer: Consumer | null = null;
  /** A MANUAL execution's next move (pause for a verdict, or end) being decided and stored. */
  private readonly manualMoves = new Map<string, Promise<void>>();
  /** Requirement pools declared on the bus (once each per process). */
  private readonly declaredPools = new Map<string, Promise<void>>();
  private deadLetterConsumer: Consumer | null = null;
  private stopped = false;
  /** What arrives for the scheduler, the governor and each run supervisor in one tick goes to it as one event. */
  private readonly queueChanges = new TickBatch<QueueChange>((changes) => this.scheduler.send({ type: 'queue', changes }));
  private readonly releases = new TickBatch<string>((executionIds) => this.governor.send({ type: 'release', executionIds }));
  private readonly memberChanges = new Map<string, TickBatch<readonly [string, Status]>>();

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
      onManualRunning: (actor) => this.manualNext(actor),
    };
    this.machine = provideMachine(this.host);
  }

  /**
   * Resumes every execution the store holds unfinished, then takes results and dead letters: on a durable bus
   * they may be waiting for executions that exist only once resumed.
   */
  async start(): Promise<void> {
    const { bus } = this.options;
    await this.recover();
    this.resultConsumer = bus.consumeResults((delivery) => {
      const result = delivery.data;
      const actor = this.actors.get(result.executionId);
      if (!actor || !actor.jobFinished(result.jobId)) {
        // Stale: the attempt already ended (cancel, abort, the engine's timeout) or this is a duplicate. Its
        // steps are still worth keeping when that attempt has none (the store never overwrites any); an attempt
        // still going (paused and resumed: a new job) reports its own.
        if (result.steps.length === 0 || (actor && actor.context.attempt === result.attempt)) return delivery.ack();
        const { executionId, attempt, steps: items } = result;
        void this.options.store
          .getExecution(executionId)
          .then((record) => record && this.options.store.recordSteps({ executionId, runId: record.runId, attempt, items }))
          .then(
            () => delivery.ack(),
            () => delivery.nak(1000),
          );
        return;
      }
      const redelivered =
        result.deliveries !== undefined && result.deliveries > 1
          ? `delivery ${result.deliveries} of the job: earlier deliveries were not reported (worker lost)`
          : undefined;
      const write = actor.apply(OUTCOME_EVENT[result.outcome], {
        actor: `worker:${result.agentId}`,
        reason: result.reason ?? redelivered,
        steps: result.steps,
        ...(result.error ? { retryable: result.error.retryable } : {}),
      });
      if (!write) return delivery.ack();
      write.then(
        () => delivery.ack(),
        () => delivery.nak(1000),
      );
    });
    this.deadLetterConsumer = bus.consumeDeadLetters((delivery) => {
      const { job, deliveries } = delivery.data;
      const actor = this.actors.get(job.executionId);
      if (!actor || !actor.jobFinished(job.jobId)) return delivery.ack(); // stale or already settled
      const write = actor.apply('ABORT', { actor: 'engine', reason: `job dead-lettered after ${deliveries} deliveries` });
      if (!write) return delivery.ack();
      write.then(
        () => delivery.ack(),
        () => delivery.nak(1000),
      );
    });
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

  private async recover(): Promise<void> {
    const { store } = this.options;
    const restored = (await store.listActive()).map((record) => [this.spawn(record), record] as const);
    // Supervisors after the actors (failFast may stop some), before anything is started.
    for (const run of await store.listActiveRuns()) this.supervise(run, await store.runMembers(run.id));
    let lost = 0;
    for (const [actor, record] of restored) {
      if (isTerminal(actor.status) || actor.status !== record.status) continue;
      if (record.status === 'RUNNING' && record.type === 'MANUAL') {
        actor.enter('RUNNING'); // nothing ran on a worker: decide the next step again
      } else if (record.status === 'RUNNING' && this.options.bus.durable) {
        // The job is still on the bus (or its result is): wait for it. Publishing it again under the same job
        // id covers a crash between storing RUNNING and publishing, and the bus drops the copy — but only within
        // its duplicate window; past it the first publish surely happened (it follows the stored RUNNING at
        // once), and a copy would run the test twice.
        this.governor.send({ type: 'acquire', executionId: actor.id, owner: actor.meta.owner, runId: actor.meta.runId });
        // Three quarters of the window leave room for the clocks of the old and the new process to differ.
        actor.resumeRunning(this.options.clock.now() - actor.context.last.at < (this.options.bus.duplicateWindowMs * 3) / 4);
      } else if (record.status === 'RUNNING') {
        lost++;
        void actor.apply('ERROR', {
          actor: 'engine',
          reason: `work lost: the engine restarted while attempt ${record.attempt} was running`,
        });
      } else {
        actor.enter(record.status);
      }
    }
    if (this.actors.size > 0) {
      this.options.logger.info({ resumed: this.actors.size, lost }, 'resumed unfinished executions');
    }
  }

  private spawn(record: ExecutionRecord): ExecutionActor {
    const { status, machine, attempt: _a, version: _v, updatedAt: _u, ...meta } = record;
    return new ExecutionActor(this.host, this.machine, meta, status, machine);
  }

  private supervise(run: RunRecord, members: { id: string; status: Status }[]): void {
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

  private runStatusChanged(runId: string, status: RunStatus): void {
    const at = this.options.clock.now();
    const final = status !== 'PENDING' && status !== 'RUNNING';
    void (async () => {
      // A run is final in the store only once its executions' last transitions are stored.
      if (final) await this.options.store.flush();
      await this.options.store.setRunStatus(runId, status, at);
      if (!final) return;
      const supervisor = this.root.system.get(runSystemId(runId)) as RunSupervisorRef | undefined;
      if (supervisor) stopChild(supervisor);
      this.memberChanges.delete(runId);
      this.governor.send({ type: 'limitRun', runId, maxParallel: null });
      for (const resolve of this.runWaiters.get(runId) ?? []) resolve(status);
      this.runWaiters.delete(runId);
      if (this.runListeners.size > 0) {
        const run = await this.options.store.getRun(runId);
        if (run) for (const listener of this.runListeners) listener({ id: runId, status, createdAt: run.createdAt, finishedAt: at });
      }
    })();
  }

  private transitioned(actor: ExecutionActor, record: TransitionRecord): void {
    const runId = actor.meta.runId;
    if (runId === null) return;
    let batch = this.memberChanges.get(runId);
    if (!batch) {
      batch = new TickBatch((changes) => {
        const supervisor = this.root.system.get(runSystemId(runId)) as RunSupervisorRef | undefined;
        supervisor?.send({ type: 'members', changes });
      });
      this.memberChanges.set(runId, batch);
    }
    batch.add([actor.id, record.to]);
    // failFast must stop the rest before the scheduler can start any of it: a failure is not held to the tick's end.
    if (NOT_PASSING.has(record.to)) batch.flush();
  }

  /** The in-memory actor disagrees with the store: rebuild it from the stored record. */
  private async resync(actor: ExecutionActor, outcome: Exclude<WriteOutcome, 'applied'> | Error): Promise<void> {
    this.options.logger.warn({ executionId: actor.id, outcome: String(outcome) }, 'transition not stored; resyncing');
    actor.finish();
    const record = await this.options.store.getExecution(actor.id);
    if (record && !isTerminal(record.status) && !this.actors.has(record.id) && !this.stopped) {
      this.spawn(record).enter(record.status);
    }
  }

  private resolveItem(item: TestItem, now: number) {
    const retry: RetryPolicy = {
      maxAttempts: item.retry?.maxAttempts ?? this.options.defaultRetry.maxAttempts,
      delayMs: item.retry?.delayMs ?? this.options.defaultRetry.delayMs,
      backoff: item.retry?.backoff ?? 'fixed',
      maxDelayMs: item.retry?.maxDelayMs ?? 3_600_000,
      jitter: item.retry?.jitter ?? 0,
      retryOn: item.retry?.retryOn ?? ['ERROR'],
    };
    const scheduledAt = item.scheduledAt === undefined ? null : Date.parse(item.scheduledAt);
    return { retry, scheduledAt: scheduledAt !== null && scheduledAt > now ? scheduledAt : null };
  }

  private waitingCount(): number {
    return this.actors.size - this.governor.getSnapshot().context.running;
  }

  /** Checks a test item's definition as a submit does: a type this engine runs, exec steps only when enabled. */
  checkItem(item: unknown, index: number): TestItem {
    return validateItem(item, index, this.options.runnable, { execEnabled: this.options.execEnabled ?? false });
  }

  /** Validates and durably stores a run with its executions, then starts them. */
  async submitRun(body: unknown, principal: Principal): Promise<SubmittedRun> {
    if (this.stopped) throw new TroupeError('ENGINE_STOPPED');
    const envelope = validate(RunEnvelopeSchema, body, 'run');
    if ((envelope.items === undefined) === (envelope.suiteId === undefined)) {
      throw new TroupeError('VALIDATION_FAILED', 'run: give either items or suiteId', {
        details: [{ path: '/items', message: 'exactly one of items and suiteId is required' }],
      });
    }
    const given = envelope.items ?? (await this.suiteItems(envelope.suiteId as string, principal));
    const items = given.map((item, i) => this.checkItem(item, i));
    const request: RunRequest = { ...envelope, items };
    const requestHash =
      request.idempotencyKey === undefined ? null : createHash('sha256').update(stableJson(request)).digest('hex');
    if (request.idempotencyKey !== undefined) {
      const existing = await this.options.store.findRunByIdempotencyKey(principal.id, request.idempotencyKey);
      if (existing) {
        if (existing.requestHash !== requestHash) {
          throw new TroupeError('IDEMPOTENCY_CONFLICT', `idempotency key ${request.idempotencyKey} was used for another run`);
        }
        const members = await this.options.store.runMembers(existing.id);
        return { id: existing.id, status: existing.status, executionIds: members.map((m) => m.id), created: false };
      }
    }
    if (this.waitingCount() + items.length > this.options.maxQueueSize) {
      throw new TroupeError(
        'QUEUE_FULL',
        `the queue holds ${this.waitingCount()} waiting executions; ${items.length} more would pass QUEUE_MAX_QUEUE_SIZE (${this.options.maxQueueSize})`,
      );
    }
    const now = this.options.clock.now();
    const run: RunRecord = {
      id: newId('run'),
      name: request.name ?? `run of ${items.length} item${items.length === 1 ? '' : 's'}`,
      status: 'PENDING',
      owner: principal.id,
      priority: request.priority ?? 'NORMAL',
      context: request.context ?? 'API',
      labels: request.labels ?? {},
      failFast: request.failFast ?? false,
      maxParallel: request.maxParallel ?? null,
      idempotencyKey: request.idempotencyKey ?? null,
      requestHash,
      total: items.length,
      createdAt: now,
      updatedAt: now,
    };
    const records = items.map((item) => this.newRecord(item, run, principal, now));
    await this.options.store.createRun(run, records);
    this.supervise(run, records.map((r) => ({ id: r.id, status: r.status })));
    for (const record of records) this.begin(record);
    return { id: run.id, status: run.status, executionIds: records.map((r) => r.id), created: true };
  }

  /** A single execution outside any run (POST /v1/executions). */
  async submitExecution(body: unknown, principal: Principal): Promise<ExecutionRecord> {
    if (this.stopped) throw new TroupeError('ENGINE_STOPPED');
    const { context, ...rest } = (body !== null && typeof body === 'object' ? body : {}) as { context?: unknown };
    // Only an absent context defaults; `"context": null` is a wrong type like any other.
    const kind = validate(ExecutionContextSchema, context === undefined ? 'API' : context, 'execution context');
    const item = this.checkItem(body === null || typeof body !== 'object' ? body : rest, 0);
    return this.admit(item, principal, kind, null);
  }

  /** A new execution of a terminal execution's definition, linked to it by `rerunOf`. */
  async retry(executionId: string, principal: Principal): Promise<ExecutionRecord> {
    const original = await this.options.store.getExecution(executionId);
    if (!original || !canSee(principal, original.owner)) throw new TroupeError('NOT_FOUND', `execution ${executionId} not found`);
    if (!isTerminal(original.status)) {
      throw new TroupeError('ILLEGAL_TRANSITION', `retry needs a finished execution: execution is ${original.status}`, {
        details: { status: original.status, event: 'RETRY' },
      });
    }
    const record = await this.admit(original.item, principal, original.context, original.id);
    await this.audit(principal, 'RETRY', executionId, { rerun: record.id });
    return record;
  }

  private async admit(
    item: TestItem,
    principal: Principal,
    context: ExecutionRecord['context'],
    rerunOf: string | null,
  ): Promise<ExecutionRecord> {
    if (this.waitingCount() + 1 > this.options.maxQueueSize) {
      throw new TroupeError('QUEUE_FULL', `the queue is full (QUEUE_MAX_QUEUE_SIZE ${this.options.maxQueueSize})`);
    }
    const record = { ...this.newRecord(item, null, principal, this.options.clock.now()), context, rerunOf };
    await this.options.store.createExecution(record);
    this.begin(record);
    return record;
  }

  /** A suite's test cases as items, snapshotted now: later edits of the cases do not change this run. */
  private async suiteItems(suiteId: string, principal: Principal): Promise<unknown[]> {
    const suite = await this.options.store.getSuite(suiteId);
    if (!suite || !canSee(principal, suite.owner)) throw new TroupeError('NOT_FOUND', `suite ${suiteId} not found`);
    const items: unknown[] = [];
    for (const id of suite.testCaseIds) {
      const testCase = await this.options.store.getTestCase(id);
      if (!testCase) throw new TroupeError('VALIDATION_FAILED', `suite ${suiteId}: test case ${id} no longer exists`);
      items.push(testCase.item);
    }
    if (items.length === 0) throw new TroupeError('VALIDATION_FAILED', `suite ${suiteId} has no test cases`);
    return items;
  }

  private newRecord(item: TestItem, run: RunRecord | null, principal: Principal, now: number): ExecutionRecord {
    const id = newId('exe');
    const { retry, scheduledAt } = this.resolveItem(item, now);
    const machine = createContext({
      id,
      at: now,
      actor: `user:${principal.id}`,
      retry,
      timeoutMs: item.timeoutMs ?? this.options.defaultTimeoutMs,
      queueTimeoutMs: item.queueTimeoutMs ?? null,
      pauseTimeoutMs: item.pauseTimeoutMs ?? null,
      scheduledAt,
    });
    return {
      id,
      runId: run?.id ?? null,
      name: item.name,
      type: item.type,
      status: machine.last.to,
      priority: item.priority ?? run?.priority ?? 'NORMAL',
      context: run?.context ?? 'API',
      attempt: machine.attempt,
      owner: principal.id,
      createdAt: now,
      updatedAt: now,
      rerunOf: null,
      item,
      machine,
      version: machine.seq,
    };
  }

  /** A stored new execution: publish its creation event and arm its first status. */
  private begin(record: ExecutionRecord): void {
    const actor = this.spawn(record);
    void this.options.bus
      .publishTransition({ type: 'transition', executionId: record.id, runId: record.runId, ...record.machine.last })
      .catch((err: unknown) => this.options.logger.warn({ err, executionId: record.id }, 'transition not published'));
    actor.enter(record.status);
  }

  /**
   * Applies a user or engine command. Illegal in the current status → ILLEGAL_TRANSITION naming it;
   * unknown or not visible → NOT_FOUND. Written to the audit log.
   */
  async command(executionId: string, type: EventType, principal: Principal, reason?: string): Promise<Status> {
    const actor = this.actors.get(executionId);
    if (actor && !canSee(principal, actor.meta.owner)) throw new TroupeError('NOT_FOUND', `execution ${executionId} not found`);
    if (!actor) {
      const record = await this.options.store.getExecution(executionId);
      if (!record || !canSee(principal, record.owner)) throw new TroupeError('NOT_FOUND', `execution ${executionId} not found`);
      throw new TroupeError('ILLEGAL_TRANSITION', `${type} is not allowed: execution is ${record.status}`, {
        details: { status: record.status, event: type },
      });
    }
    const status = actor.status;
    const write = actor.apply(type, { actor: `user:${principal.id}`, ...(reason === undefined ? {} : { reason }) });
    if (!write) {
      throw new TroupeError('ILLEGAL_TRANSITION', `${type} is not allowed: execution is ${status}`, {
        details: { status, event: type },
      });
    }
    const outcome = await write;
    if (outcome !== 'applied') throw new TroupeError('VERSION_CONFLICT', `execution ${executionId} changed concurrently`);
    await this.audit(principal, type, executionId, reason === undefined ? undefined : { reason });
    return actor.status;
  }

  /** Cancels every unfinished execution of a run; the run ends CANCELLED. */
  async cancelRun(runId: string, principal: Principal): Promise<void> {
    const run = await this.options.store.getRun(runId);
    if (!run || !canSee(principal, run.owner)) throw new TroupeError('NOT_FOUND', `run ${runId} not found`);
    const supervisor = this.root.system.get(runSystemId(runId)) as RunSupervisorRef | undefined;
    if (!supervisor) {
      throw new TroupeError('ILLEGAL_TRANSITION', `the run is already ${run.status}`, { details: { status: run.status } });
    }
    supervisor.send({ type: 'cancel', actor: `user:${principal.id}`, reason: `run cancelled by ${principal.id}` });
    await this.audit(principal, 'CANCEL_RUN', runId);
  }

  /**
   * A MANUAL execution is RUNNING: from the verdicts stored for this attempt, it ends FAILED (a step failed),
   * PASSED (every step has a verdict) or goes PAUSED awaiting the next step's verdict.
   */
  private manualNext(actor: ExecutionActor): void {
    const move = (async () => {
      const attempt = actor.context.attempt;
      const given = (await this.options.store.listSteps(actor.id)).filter((s) => s.attempt === attempt);
      const steps = (actor.meta.item.steps ?? []) as ManualStep[];
      const failed = given.find((s) => s.status === 'FAILED');
      const write = failed
        ? actor.apply('FAIL', { actor: 'engine', reason: `step ${failed.index} failed: ${failed.output ?? failed.name}` })
        : given.length >= steps.length
          ? actor.apply('PASS', { actor: 'engine', reason: `all ${steps.length} steps passed or skipped` })
          : actor.apply('PAUSE', {
              actor: 'engine',
              reason: `awaiting the verdict for step ${given.length}: ${steps[given.length]?.instruction ?? ''}`,
            });
      await write;
    })().catch((err: unknown) => {
      // Nothing else would ever move it on (no timer is armed while RUNNING): end it as a system failure.
      this.options.logger.error({ err, executionId: actor.id }, 'manual step not decided');
      void actor.apply('ERROR', { actor: 'engine', reason: `the next manual step could not be decided: ${String(err)}` });
    });
    this.manualMoves.set(actor.id, move);
    void move.finally(() => {
      if (this.manualMoves.get(actor.id) === move) this.manualMoves.delete(actor.id);
    });
  }

  /**
   * A tester's verdict on step `index` of a PAUSED MANUAL execution: the step is stored with the RESUME that
   * follows, and the execution moves on (next pause, PASSED or FAILED) before this resolves. Only the owner or an
   * admin; the step must be the one awaited.
   */
  async verdict(executionId: string, index: number, body: unknown, principal: Principal): Promise<Status> {
    const given = validate(VerdictSchema, body, 'verdict');
    const actor = this.actors.get(executionId);
    const record = actor ? null : await this.options.store.getExecution(executionId);
    const owner = actor?.meta.owner ?? record?.owner;
    if (owner === undefined || !canSee(principal, owner)) throw new TroupeError('NOT_FOUND', `execution ${executionId} not found`);
    const item = actor?.meta.item ?? record?.item;
    if (item?.type !== 'MANUAL') {
      throw new TroupeError('VALIDATION_FAILED', `execution ${executionId} is ${item?.type ?? 'unknown'}: verdicts are for MANUAL executions`);
    }
    const steps = (item.steps ?? []) as ManualStep[];
    if (index >= steps.length) {
      throw new TroupeError('VALIDATION_FAILED', `step ${index} does not exist: the execution has ${steps.length} steps (0-${steps.length - 1})`);
    }
    await this.manualMoves.get(executionId);
    const status = actor?.status ?? record?.status;
    if (!actor || status !== 'PAUSED') {
      throw new TroupeError('ILLEGAL_TRANSITION', `no verdict is awaited: execution is ${status}`, { details: { status, event: 'VERDICT' } });
    }
    const attempt = actor.context.attempt;
    const seq = actor.context.seq;
    const awaited = (await this.options.store.listSteps(executionId)).filter((s) => s.attempt === attempt).length;
    if (actor.context.seq !== seq) {
      throw new TroupeError('ILLEGAL_TRANSITION', `the execution moved on meanwhile: it is ${actor.status}`, {
        details: { status: actor.status, event: 'VERDICT' },
      });
    }
    if (index !== awaited) {
      throw new TroupeError('ILLEGAL_TRANSITION', `the verdict awaited is for step ${awaited}, not step ${index}`, {
        details: { status, awaitedStep: awaited },
      });
    }
    const pausedAt = actor.context.last.at;
    const now = this.options.clock.now();
    const notes = [given.comment, given.attachment === undefined ? undefined : `attachment: ${given.attachment}`].filter(
      (n): n is string => n !== undefined,
    );
    const step = {
      index,
      name: steps[index]!.instruction,
      status: VERDICT_STATUS[given.verdict],
      startedAt: pausedAt,
      durationMs: Math.max(0, now - pausedAt),
      ...(notes.length > 0 ? { output: notes.join('\n') } : {}),
    };
    const write = actor.apply('RESUME', {
      actor: `user:${principal.id}`,
      reason: `verdict for step ${index}: ${given.verdict}`,
      steps: [step],
    });
    if (!write) throw new TroupeError('ILLEGAL_TRANSITION', `no verdict is awaited: execution is ${actor.status}`);
    if ((await write) !== 'applied') throw new TroupeError('VERSION_CONFLICT', `execution ${executionId} changed concurrently`);
    await this.manualMoves.get(executionId);
    await this.audit(principal, 'VERDICT', executionId, { step: index, verdict: given.verdict });
    return this.actors.get(executionId)?.status ?? (await this.options.store.getExecution(executionId))?.status ?? actor.status;
  }

  /** Every dead letter the bus holds, oldest first (admin). */
  async deadLetters(): Promise<DeadLetter[]> {
    return this.options.bus.listDeadLetters();
  }

  /**
   * Runs a dead-lettered job's execution again: a new execution linked by `rerunOf` (like retry), and the
   * letter is removed. The execution must have ended (ABORTED once its letter was taken).
   */
  async redrive(jobId: string, principal: Principal): Promise<ExecutionRecord> {
    const letter = (await this.options.bus.listDeadLetters()).find((l) => l.job.jobId === jobId);
    if (!letter) throw new TroupeError('NOT_FOUND', `no dead letter for job ${jobId}`);
    const original = await this.options.store.getExecution(letter.job.executionId);
    if (!original || !canSee(principal, original.owner)) throw new TroupeError('NOT_FOUND', `no dead letter for job ${jobId}`);
    if (!isTerminal(original.status)) {
      throw new TroupeError('ILLEGAL_TRANSITION', `the execution has not ended yet: it is ${original.status}`, {
        details: { status: original.status, event: 'REDRIVE' },
      });
    }
    // The letter goes first: of two concurrent redrives only the one that removed it runs the execution again.
    if (!(await this.options.bus.removeDeadLetter(jobId))) throw new TroupeError('NOT_FOUND', `no dead letter for job ${jobId}`);
    // The rerun belongs to the execution's owner, not to the admin who redrove it.
    const record = await this.admit(original.item, { ...principal, id: original.owner }, original.context, original.id);
    await this.audit(principal, 'REDRIVE', jobId, { execution: original.id, rerun: record.id });
    return record;
  }

  /** Forgets a dead letter without running anything again. */
  async discardDeadLetter(jobId: string, principal: Principal): Promise<void> {
    if (!(await this.options.bus.removeDeadLetter(jobId))) throw new TroupeError('NOT_FOUND', `no dead letter for job ${jobId}`);
    await this.audit(principal, 'DISCARD_DEAD_LETTER', jobId);
  }

  /** Records who did what to which, when and from where. */
  private audit(principal: Principal, action: string, target: string, details?: unknown): Promise<void> {
    return this.options.store.appendAudit({
      at: this.options.clock.now(),
      principal: principal.id,
      action,
      target,
      source: principal.source ?? 'engine',
      ...(details === undefined ? {} : { details }),
    });
  }

  /** Resolves with the run's final status once every execution in it is terminal. */
  async waitForRun(runId: string): Promise<RunStatus> {
    const pending = new Promise<RunStatus>((resolve) => {
      const list = this.runWaiters.get(runId) ?? [];
      list.push(resolve);
      this.runWaiters.set(runId, list);
    });
    const run = await this.options.store.getRun(runId);
    if (!run) throw new TroupeError('NOT_FOUND', `run ${runId} not found`);
    if (run.status !== 'PENDING' && run.status !== 'RUNNING') return run.status;
    return pending;
  }

  queueDepth(): Record<Priority, number> {
    return this.scheduler.getSnapshot().context.queue.depthByPriority();
  }

  liveByStatus(): Partial<Record<Status, number>> {
    const counts: Partial<Record<Status, number>> = {};
    for (const actor of this.actors.values()) counts[actor.status] = (counts[actor.status] ?? 0) + 1;
    return counts;
  }

  /** Calls `listener` when a run reaches its final status (after it is stored). */
  onRunFinished(listener: (run: { id: string; status: RunStatus; createdAt: number; finishedAt: number }) => void): () => void {
    this.runListeners.add(listener);
    return () => this.runListeners.delete(listener);
  }

  /** Live figures for metrics and back-pressure. */
  stats(): { live: number; running: number; queued: number } {
    const running = this.governor.getSnapshot().context.running;
    return { live: this.actors.size, running, queued: this.scheduler.getSnapshot().context.queue.size };
  }

  /** Stops taking results and stops every actor; the store keeps what was acknowledged. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.deadLetterConsumer?.stop();
    await this.resultConsumer?.stop();
    await this.options.store.flush();
    for (const actor of [...this.actors.values()]) actor.finish();
    this.root.stop();
  }
}
