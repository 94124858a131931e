import { createHash } from 'node:crypto';
import { createContext } from '../../machines/execution.machine.js';
import type { RetryPolicy } from '../../machines/retry-policy.js';
import { TroupeError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { validateItem } from '../core/items.js';
import { ExecutionContextSchema, RunEnvelopeSchema, validate, type RunRequest, type TestItem } from '../core/schemas.js';
import { seriesOf } from '../core/series.js';
import { isTerminal, type RunStatus } from '../core/statuses.js';
import type { ExecutionRecord, RunRecord, TestHistory } from '../store/store.port.js';
import { audit } from './audit.js';
import type { Lifecycles } from './lifecycles.js';
import type { CoordinatorOptions } from './options.js';
import { canSee, type Principal } from './principal.js';

export interface SubmittedRun {
  id: string;
  status: RunStatus;
  executionIds: string[];
  /** False when an earlier submit with the same idempotency key is returned. */
  created: boolean;
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * New work: runs, single executions and reruns are validated, bounded by the queue size, durably stored, and
 * only then started.
 */
export class Submissions {
  constructor(
    private readonly options: CoordinatorOptions,
    private readonly lifecycles: Lifecycles,
  ) {}

  /** Checks a test item's definition as a submit does: a type this engine runs, exec steps only when enabled. */
  checkItem(item: unknown, index: number): TestItem {
    return validateItem(item, index, this.options.runnable, { execEnabled: this.options.execEnabled ?? false });
  }

  /** Validates and durably stores a run with its executions, then starts them. */
  async submitRun(body: unknown, principal: Principal): Promise<SubmittedRun> {
    const { store } = this.options;
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
      const earlier = await this.earlierRun(principal, request.idempotencyKey, requestHash);
      if (earlier) return earlier;
    }
    const waiting = this.lifecycles.waitingCount();
    if (waiting + items.length > this.options.maxQueueSize) {
      throw new TroupeError(
        'QUEUE_FULL',
        `the queue holds ${waiting} waiting executions; ${items.length} more would pass QUEUE_MAX_QUEUE_SIZE (${this.options.maxQueueSize})`,
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
    // Decided before the run is stored: nothing is awaited between storing a run and starting it.
    const order = await this.startOrder(run, records);
    const stored = store.createRun(run, records);
    // The actors are built while the writer thread stores the rows; none acts (publishes, queues, arms a timer)
    // before the run is stored.
    const actors = records.map((record) => this.lifecycles.spawn(record));
    try {
      await stored;
    } catch (err) {
      for (const actor of actors) actor.finish();
      // The same key submitted twice at once: the other submit stored its run first (the key is unique per owner).
      const earlier = request.idempotencyKey === undefined ? null : await this.earlierRun(principal, request.idempotencyKey, requestHash);
      if (earlier) return earlier;
      throw err;
    }
    this.lifecycles.supervise(run, records.map((r) => ({ id: r.id, status: r.status })));
    for (const i of order) this.lifecycles.begin(records[i] as ExecutionRecord, actors[i]);
    return { id: run.id, status: run.status, executionIds: records.map((r) => r.id), created: true };
  }

  /**
   * The order a run's executions are queued in: the longest durations recorded in the run's series first, those
   * never recorded before them all, ties in item order. Queue lanes are per priority, so priorities still decide
   * first; this only orders the tests of one priority. Item order when ordering is off or nothing is recorded.
   */
  private async startOrder(run: RunRecord, records: readonly ExecutionRecord[]): Promise<number[]> {
    const order = records.map((_, i) => i);
    if (this.options.orderByDuration === false || records.length < 2) return order;
    let history: Map<string, TestHistory>;
    try {
      history = await this.options.store.testHistory(seriesOf(run), records.map((r) => r.name));
    } catch (err) {
      // An optimisation: without the history the run starts in item order.
      this.options.logger.warn({ err, runId: run.id }, 'test history not read; the run starts in item order');
      return order;
    }
    if (history.size === 0) return order;
    const known = records.map((r) => history.get(r.name)?.durationMs ?? Infinity);
    return order.sort((a, b) => (known[b] as number) - (known[a] as number) || a - b);
  }

  /** The run stored earlier under this owner's idempotency key, if any; another body under it is a conflict. */
  private async earlierRun(principal: Principal, key: string, requestHash: string | null): Promise<SubmittedRun | null> {
    const { store } = this.options;
    const existing = await store.findRunByIdempotencyKey(principal.id, key);
    if (!existing) return null;
    if (existing.requestHash !== requestHash) {
      throw new TroupeError('IDEMPOTENCY_CONFLICT', `idempotency key ${key} was used for another run`);
    }
    const members = await store.runMembers(existing.id);
    return { id: existing.id, status: existing.status, executionIds: members.map((m) => m.id), created: false };
  }

  /** A single execution outside any run (POST /v1/executions). */
  async submitExecution(body: unknown, principal: Principal): Promise<ExecutionRecord> {
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
    await audit(this.options.store, this.options.clock, principal, 'RETRY', executionId, { rerun: record.id });
    return record;
  }

  /** Stores one new execution outside any run and starts it. */
  async admit(item: TestItem, principal: Principal, context: ExecutionRecord['context'], rerunOf: string | null): Promise<ExecutionRecord> {
    if (this.lifecycles.waitingCount() + 1 > this.options.maxQueueSize) {
      throw new TroupeError('QUEUE_FULL', `the queue is full (QUEUE_MAX_QUEUE_SIZE ${this.options.maxQueueSize})`);
    }
    const record = { ...this.newRecord(item, null, principal, this.options.clock.now()), context, rerunOf };
    await this.options.store.createExecution(record);
    this.lifecycles.begin(record);
    return record;
  }

  /** A suite's test cases as items, snapshotted now: later edits of the cases do not change this run. */
  private async suiteItems(suiteId: string, principal: Principal): Promise<unknown[]> {
    const { store } = this.options;
    const suite = await store.getSuite(suiteId);
    if (!suite || !canSee(principal, suite.owner)) throw new TroupeError('NOT_FOUND', `suite ${suiteId} not found`);
    const items: unknown[] = [];
    for (const id of suite.testCaseIds) {
      const testCase = await store.getTestCase(id);
      if (!testCase) throw new TroupeError('VALIDATION_FAILED', `suite ${suiteId}: test case ${id} no longer exists`);
      items.push(testCase.item);
    }
    if (items.length === 0) throw new TroupeError('VALIDATION_FAILED', `suite ${suiteId} has no test cases`);
    return items;
  }

  private resolveItem(item: TestItem, now: number): { retry: RetryPolicy; scheduledAt: number | null } {
    const { defaultRetry } = this.options;
    const retry: RetryPolicy = {
      maxAttempts: item.retry?.maxAttempts ?? defaultRetry.maxAttempts,
      delayMs: item.retry?.delayMs ?? defaultRetry.delayMs,
      backoff: item.retry?.backoff ?? 'fixed',
      maxDelayMs: item.retry?.maxDelayMs ?? 3_600_000,
      jitter: item.retry?.jitter ?? 0,
      retryOn: item.retry?.retryOn ?? ['ERROR'],
    };
    const scheduledAt = item.scheduledAt === undefined ? null : Date.parse(item.scheduledAt);
    return { retry, scheduledAt: scheduledAt !== null && scheduledAt > now ? scheduledAt : null };
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
}
