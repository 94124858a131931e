import type { TransitionRecord } from '../../machines/execution.machine.js';
import { TroupeError, type PlainError } from '../core/errors.js';
import type { TestItem } from '../core/schemas.js';
import type { StepRecord } from '../store/store.port.js';
import type { DeliveryBudget } from './budget.js';

/** A pool name is one subject token: letters, digits, `_` and `-`, at most 64 characters. */
export const POOL_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The pool of jobs whose item asks for nothing in particular. */
export const DEFAULT_POOL = 'default';

export function isPoolName(value: string): boolean {
  return POOL_NAME_PATTERN.test(value);
}

/** A VALIDATION_FAILED error when `pool` is not a valid pool name, else null. */
export function poolNameError(pool: string): TroupeError | null {
  if (isPoolName(pool)) return null;
  return new TroupeError('VALIDATION_FAILED', `invalid pool name ${JSON.stringify(pool)}: use 1-64 of A-Z a-z 0-9 _ -`);
}

/** Throws VALIDATION_FAILED unless `pool` is a valid pool name. */
export function assertPoolName(pool: string): void {
  const error = poolNameError(pool);
  if (error) throw error;
}

/** One attempt of one execution, handed to a worker pool. */
export interface Job {
  jobId: string;
  executionId: string;
  runId: string | null;
  attempt: number;
  pool: string;
  item: TestItem;
  /** Absolute run deadline (epoch ms); the worker stops the runner when it passes. */
  deadlineAt: number;
}

export type JobOutcome = 'PASSED' | 'FAILED' | 'ERROR' | 'TIMEOUT' | 'SKIPPED' | 'CANCELLED';

export interface JobResult {
  jobId: string;
  executionId: string;
  attempt: number;
  outcome: JobOutcome;
  reason: string | null;
  error?: PlainError;
  steps: StepRecord[];
  agentId: string;
  startedAt: number;
  finishedAt: number;
  /** How many times the job was delivered, this delivery included (more than 1: earlier workers were lost). */
  deliveries?: number;
}

/** A transition as other services see it (SPEC §7 live event shape). */
export interface TransitionEvent extends TransitionRecord {
  type: 'transition';
  executionId: string;
  runId: string | null;
}

export interface ControlMessage {
  type: 'cancel' | 'abort';
  jobId: string;
  executionId: string;
  reason: string;
}

/** An at-least-once delivery: settle it with ack, or nak to have it redelivered. */
export interface Delivery<T> {
  readonly data: T;
  /** 1 on first delivery. */
  readonly deliveryCount: number;
  ack(): void;
  nak(delayMs?: number): void;
  /** Extends the lease: the message is not redelivered for another ack-wait period. */
  working(): void;
}

export interface Consumer {
  /** Stops delivering; unsettled deliveries are left to be redelivered elsewhere. Idempotent. */
  stop(): Promise<void>;
}

/**
 * How many job deliveries a consumer may hold unsettled: its own limit, or a budget shared with other
 * consumers (one worker serving several pools).
 */
export type JobConsumerOptions = { maxInFlight: number } | { budget: DeliveryBudget };

export type Unsubscribe = () => void;

export interface ResultBatchOptions {
  /**
   * Most results handed over in one call.
   * @defaultValue 256
   */
  maxBatch?: number;
}

export interface DeadLetter {
  job: Job;
  /** Deliveries the job had without an ack. */
  deliveries: number;
  /** When it was dead-lettered (epoch ms). */
  deadAt: number;
  reason: string;
}

/** A pool other processes can discover, with the labels a worker must have to serve it. */
export interface PoolInfo {
  pool: string;
  requires: Record<string, string>;
}

/** An agent's periodic sign of life, fanned out to whoever listens (the agents list). */
export interface AgentHeartbeat {
  agentId: string;
  pools: string[];
  /** Threads the agent runs jobs on. */
  capacity: number;
  /** Jobs running now. */
  running: number;
  runners: string[];
  labels: Record<string, string>;
  /** Epoch ms. */
  startedAt: number;
  /** Epoch ms. */
  at: number;
  /** Set on the last heartbeat of an agent shutting down. */
  leaving?: boolean;
}

/**
 * The bus port. Jobs, results and dead letters are at-least-once with ack and redelivery of unacked messages;
 * transitions, control messages and heartbeats are fire-and-forget fan-out. Every adapter passes
 * test/contract/bus.contract.ts.
 */
export interface Bus {
  readonly kind: string;
  /** True when jobs, results and dead letters survive a restart of this process. */
  readonly durable: boolean;
  /** How long a job published again under the same id is dropped as a duplicate (0: never). */
  readonly duplicateWindowMs: number;
  /** Queues a job on its pool. A pool never declared works too: it requires nothing. */
  publishJob(job: Job): Promise<void>;
  /**
   * Delivers jobs of `pool`, never more unsettled at once than `maxInFlight` or than the shared budget has
   * free. Each job goes to one consumer of the pool at a time.
   */
  consumeJobs(pool: string, handler: (delivery: Delivery<Job>) => void, options: JobConsumerOptions): Consumer;
  /** Declares a pool and the labels its workers need; declaring again replaces the requirements. */
  declarePool(pool: string, requires: Record<string, string>): Promise<void>;
  /** Every pool declared or consumed, by any process sharing this bus. */
  listPools(): Promise<PoolInfo[]>;
  publishResult(result: JobResult): Promise<void>;
  consumeResults(handler: (delivery: Delivery<JobResult>) => void): Consumer;
  /**
   * Optional batch form of `consumeResults`: the results that arrived together, up to `maxBatch`, in one
   * call (so they can be recorded in one store transaction); each delivery is still settled on its own, and a
   * handler that throws leaves the whole batch to be redelivered. {@link consumeResultBatches} falls back to
   * one-result batches on adapters without it.
   */
  consumeResultBatches?(handler: (deliveries: Delivery<JobResult>[]) => void, options?: ResultBatchOptions): Consumer;
  publishTransition(event: TransitionEvent): Promise<void>;
  subscribeTransitions(handler: (event: TransitionEvent) => void): Unsubscribe;
  publishControl(message: ControlMessage): Promise<void>;
  subscribeControl(handler: (message: ControlMessage) => void): Unsubscribe;
  /**
   * Jobs delivered `maxDeliver` times without an ack, at least once each: ack a letter once it is recorded.
   * Consumers share the letters like a work queue. A job is never handed out more than `maxDeliver` times;
   * an adapter may dead-letter it only when its next delivery reaches a consumer of its pool.
   */
  consumeDeadLetters(handler: (delivery: Delivery<DeadLetter>) => void): Consumer;
  /** Every dead letter still held (acked ones included), oldest first. */
  listDeadLetters(): Promise<DeadLetter[]>;
  /** Forgets the dead letter of `jobId` (after a redrive or a discard); false when none is held. */
  removeDeadLetter(jobId: string): Promise<boolean>;
  publishHeartbeat(heartbeat: AgentHeartbeat): Promise<void>;
  subscribeHeartbeats(handler: (heartbeat: AgentHeartbeat) => void): Unsubscribe;
  /** Resolves when the bus answers within `timeoutMs`, rejects otherwise (readiness checks). */
  ping(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Results in batches: the adapter's own batch form when it has one, else batches of one from `consumeResults`. */
export function consumeResultBatches(
  bus: Bus,
  handler: (deliveries: Delivery<JobResult>[]) => void,
  options?: ResultBatchOptions,
): Consumer {
  if (bus.consumeResultBatches) return bus.consumeResultBatches(handler, options);
  return bus.consumeResults((delivery) => handler([delivery]));
}

export interface BusOptions {
  /**
   * How long a delivered message may stay unsettled before it is redelivered.
   * @defaultValue 30000
   */
  ackWaitMs?: number;
  /**
   * Deliveries of a job before it is dead-lettered.
   * @defaultValue 5
   */
  maxDeliver?: number;
}
