import type { TransitionRecord } from '../../machines/execution.machine.js';
import type { PlainError } from '../core/errors.js';
import type { TestItem } from '../core/schemas.js';
import type { StepRecord } from '../store/store.port.js';

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
  stop(): Promise<void>;
}

export type Unsubscribe = () => void;

export interface DeadLetter {
  job: Job;
  deliveries: number;
}

/**
 * The bus port. Jobs and results are at-least-once with ack and redelivery of unacked messages;
 * transitions and control messages are fire-and-forget fan-out. Every adapter passes
 * test/contract/bus.contract.ts.
 */
export interface Bus {
  readonly kind: string;
  publishJob(job: Job): Promise<void>;
  /** Delivers jobs of `pool`, never more than `maxInFlight` unsettled at once. */
  consumeJobs(pool: string, handler: (delivery: Delivery<Job>) => void, options: { maxInFlight: number }): Consumer;
  publishResult(result: JobResult): Promise<void>;
  consumeResults(handler: (delivery: Delivery<JobResult>) => void): Consumer;
  publishTransition(event: TransitionEvent): Promise<void>;
  subscribeTransitions(handler: (event: TransitionEvent) => void): Unsubscribe;
  publishControl(message: ControlMessage): Promise<void>;
  subscribeControl(handler: (message: ControlMessage) => void): Unsubscribe;
  /** Jobs delivered `maxDeliver` times without an ack. */
  subscribeDeadLetters(handler: (letter: DeadLetter) => void): Unsubscribe;
  close(): Promise<void>;
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
