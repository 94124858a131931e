import { JetStreamApiError, type JetStreamClient, type PubAck } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

export interface RetryPolicy {
  /**
   * How long a publish keeps retrying while the server is unreachable before it rejects.
   * @defaultValue 30000
   */
  giveUpAfterMs: number;
  /**
   * Longest wait for one attempt's acknowledgement.
   * @defaultValue 5000
   */
  attemptTimeoutMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { giveUpAfterMs: 30_000, attemptTimeoutMs: 5_000 };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Publishes to a stream and waits for its acknowledgement, retrying with backoff while the server is
 * unreachable. Every attempt carries the same `Nats-Msg-Id`, so the stream's duplicate window makes a retry
 * of a publish that did land (only its acknowledgement was lost) harmless.
 */
export async function publishWithRetry(
  nc: NatsConnection,
  js: JetStreamClient,
  subject: string,
  payload: Uint8Array,
  msgID: string,
  policy: RetryPolicy = DEFAULT_RETRY,
): Promise<PubAck> {
  const giveUpAt = Date.now() + policy.giveUpAfterMs;
  for (let attempt = 0; ; attempt++) {
    const timeout = Math.max(500, Math.min(policy.attemptTimeoutMs, giveUpAt - Date.now()));
    try {
      return await js.publish(subject, payload, { msgID, timeout });
    } catch (err) {
      // The server answered with an error (a limit, a bad subject): retrying cannot help, unless it said
      // JetStream is momentarily unavailable (503, e.g. while it recovers its streams after a restart).
      const refused = err instanceof JetStreamApiError && err.status !== 503;
      if (refused || nc.isClosed() || nc.isDraining()) throw err;
      const wait = Math.min(2_000, 50 * 2 ** attempt);
      if (Date.now() + wait >= giveUpAt) throw err;
      await sleep(wait);
    }
  }
}
