import type { RetryPolicy } from '../../machines/retry-policy.js';
import type { Bus } from '../bus/bus.port.js';
import type { Clock } from '../core/clock.js';
import type { ItemDefinitions } from '../core/items.js';
import type { Logger } from '../core/log.js';
import type { Store } from '../store/store.port.js';

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
  /**
   * Within a run, start the tests with the longest durations recorded in its series first, unknown ones before
   * them (QUEUE_ORDER_BY_DURATION); priorities still come first.
   * @defaultValue true
   */
  orderByDuration?: boolean;
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
