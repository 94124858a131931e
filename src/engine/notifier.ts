import { newId } from '../core/ids.js';
import type { Logger } from '../core/log.js';
import { notificationSignature } from '../core/webhook-signatures.js';
import { storedRunReport } from '../report/stored-tests.js';
import type { NotificationRecord, Store } from '../store/store.port.js';
import type { Coordinator } from './coordinator.js';
import { postJson, type PostOutcome } from './notify-post.js';

export interface NotifierOptions {
  store: Store;
  coordinator: Coordinator;
  logger: Logger;
  /**
   * Attempts per notification, the first included.
   * @defaultValue 5
   */
  maxAttempts?: number;
  /**
   * Wait before the second attempt, doubled before each one after.
   * @defaultValue 1000
   */
  backoffMs?: number;
  /**
   * How long one attempt may take before it counts as failed.
   * @defaultValue 10000
   */
  attemptTimeoutMs?: number;
  /**
   * Whether notifications may go to loopback, private and link-local addresses (TROUPE_NOTIFY_PRIVATE_ADDRESSES).
   * @defaultValue false
   */
  allowPrivateAddresses?: boolean;
}

/**
 * Posts the report summary of each run a trigger with `notify` started to its URL once the run ends, signed
 * (`Troupe-Signature`), retrying failures with exponential backoff. A notification is stored as pending when its
 * run starts and every attempt is stored, so a restarted server resumes what was owed and counts on.
 */
export class Notifier {
  private readonly stopping = new AbortController();
  private readonly following = new Set<Promise<void>>();
  private readonly maxAttempts: number;
  private readonly backoffMs: number;

  constructor(private readonly options: NotifierOptions) {
    this.maxAttempts = options.maxAttempts ?? 5;
    this.backoffMs = options.backoffMs ?? 1000;
  }

  /** Resumes every notification still pending in the store. */
  async start(): Promise<void> {
    for (const pending of await this.options.store.pendingNotifications()) this.follow(pending);
  }

  /** Stores a pending notification for a run the trigger started, then sends it when the run ends. */
  async watch(runId: string, triggerId: string): Promise<void> {
    const record: NotificationRecord = { runId, triggerId, state: 'pending', attempts: 0, createdAt: Date.now() };
    // False: the run was watched already (a redelivery of the same webhook).
    if (await this.options.store.addNotification(record)) this.follow(record);
  }

  /** Stops waiting and retrying; what is still pending stays stored for the next start. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled([...this.following]);
  }

  private follow(notification: NotificationRecord): void {
    const done = this.deliver(notification).catch((err: unknown) => {
      if (!this.stopping.signal.aborted) this.options.logger.error({ err, runId: notification.runId }, 'run notification failed');
    });
    this.following.add(done);
    void done.finally(() => this.following.delete(done));
  }

  private async deliver(n: NotificationRecord): Promise<void> {
    const { store, coordinator } = this.options;
    if (await store.getRun(n.runId)) await this.untilStopped(coordinator.waitForRun(n.runId));
    const [trigger, run] = await Promise.all([store.getTrigger(n.triggerId), store.getRun(n.runId)]);
    if (!trigger?.notify || !run) {
      // The trigger was deleted since (nobody to tell), or the run was never stored.
      await store.endNotification(n.runId, 'failed');
      return;
    }
    const report = await storedRunReport(store, run, { id: run.id, name: run.name, status: run.status, labels: run.labels });
    const body = JSON.stringify({ run: report.run, summary: report.summary, trigger: { id: trigger.id, name: trigger.name } });
    for (let attempt = n.attempts + 1; attempt <= this.maxAttempts; attempt++) {
      if (attempt > 1) {
        await this.untilStopped(this.sleep(this.backoffMs * 2 ** (attempt - 2)));
        // Deleted while the retry waited: nothing is owed any more.
        if (!(await store.getTrigger(trigger.id))) {
          await store.endNotification(n.runId, 'failed');
          return;
        }
      }
      const outcome = await this.post(trigger.notify.url, trigger.notify.secret, body);
      if (this.stopping.signal.aborted) return;
      const last = outcome.ok || attempt === this.maxAttempts;
      await store.recordNotifyAttempt(
        { id: newId('ntf'), triggerId: trigger.id, runId: run.id, attempt, at: Date.now(), ...outcome },
        last ? (outcome.ok ? 'delivered' : 'failed') : undefined,
      );
      if (outcome.ok) return;
    }
    // TROUPE_NOTIFY_MAX_ATTEMPTS lowered below the attempts already made: nothing more is owed.
    if (n.attempts >= this.maxAttempts) await store.endNotification(n.runId, 'failed');
  }

  private post(url: string, secret: string, body: string): Promise<PostOutcome> {
    const signature = notificationSignature(secret, Math.floor(Date.now() / 1000), body);
    // A redirect is an answer that is not a 2xx, not an address to post the report to.
    return postJson(new URL(url), { 'troupe-signature': signature }, body, {
      allowPrivate: this.options.allowPrivateAddresses ?? false,
      signal: AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.options.attemptTimeoutMs ?? 10_000)]),
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms).unref());
  }

  /** Resolves with `work`, or rejects once the notifier stops, whichever comes first. */
  private untilStopped<T>(work: Promise<T>): Promise<T> {
    const signal = this.stopping.signal;
    if (signal.aborted) return Promise.reject(new Error('the notifier stopped'));
    return new Promise<T>((resolve, reject) => {
      const stop = () => reject(new Error('the notifier stopped'));
      signal.addEventListener('abort', stop, { once: true });
      work.then(resolve, reject).finally(() => signal.removeEventListener('abort', stop));
    });
  }
}
