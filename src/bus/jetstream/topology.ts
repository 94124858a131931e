import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type ConsumerInfo,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { COORDINATOR_CONSUMER, type Names } from './names.js';

/** How long a retried publish of the same id is recognised as a duplicate. */
export const DUPLICATE_WINDOW_MS = 2 * 60_000;
const DEAD_LETTER_MAX_AGE_MS = 14 * 24 * 3_600_000;
const EVENTS_MAX_AGE_MS = 24 * 3_600_000;
const EVENTS_MAX_MSGS = 1_000_000;

function isApiError(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}

export function isConsumerNotFound(err: unknown): boolean {
  return isApiError(err, JetStreamApiCodes.ConsumerNotFound);
}

/** Creates the stream, or (with `update`) brings an existing one to this configuration. */
async function ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string },
  update: boolean,
): Promise<void> {
  try {
    await jsm.streams.info(config.name);
    if (!update) return;
  } catch (err) {
    if (!isApiError(err, JetStreamApiCodes.StreamNotFound)) throw err;
    try {
      await jsm.streams.add(config);
      return;
    } catch (addErr) {
      // Another process created it first: fall through to the update.
      if (!isApiError(addErr, 10058 /* stream name already in use */)) throw addErr;
      if (!update) return;
    }
  }
  const { name, ...changes } = config;
  await jsm.streams.update(name, changes);
}

/**
 * The four streams, created when missing, all on file storage. With `update` (the coordinator) existing ones
 * are brought to this configuration; agents leave them as they are, so an operator's limits stay.
 */
export async function ensureStreams(jsm: JetStreamManager, n: Names, update = true): Promise<void> {
  const duplicate_window = nanos(DUPLICATE_WINDOW_MS);
  await ensureStream(jsm, {
    name: n.streams.jobs,
    subjects: [n.all.jobs],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window,
  }, update);
  await ensureStream(jsm, {
    name: n.streams.results,
    subjects: [n.all.results],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window,
  }, update);
  await ensureStream(jsm, {
    name: n.streams.dead,
    subjects: [n.all.dead],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(DEAD_LETTER_MAX_AGE_MS),
    // Listing reads it with direct gets.
    allow_direct: true,
    duplicate_window,
  }, update);
  await ensureStream(jsm, {
    name: n.streams.events,
    subjects: [n.all.events],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(EVENTS_MAX_AGE_MS),
    max_msgs: EVENTS_MAX_MSGS,
    discard: DiscardPolicy.Old,
    duplicate_window,
  }, update);
}

/** The requirements a pool's consumer carries in its description. */
export function describePool(requires: Record<string, string>): string {
  return JSON.stringify({ requires });
}

export function requirementsOf(info: ConsumerInfo): Record<string, string> {
  try {
    const parsed = JSON.parse(info.config.description ?? '') as { requires?: unknown };
    const requires = parsed.requires;
    if (requires && typeof requires === 'object' && !Array.isArray(requires)) {
      return Object.fromEntries(Object.entries(requires).filter((e): e is [string, string] => typeof e[1] === 'string'));
    }
  } catch {
    // A consumer somebody made by hand: it requires nothing we know of.
  }
  return {};
}

/**
 * A durable pull consumer with explicit acks and unlimited deliveries: the adapter itself dead-letters jobs
 * delivered too often, so nothing is dropped by the server silently.
 */
function workConsumer(name: string, ackWaitMs: number, filter?: string, description?: string): Partial<ConsumerConfig> {
  return {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(ackWaitMs),
    max_deliver: -1,
    ...(filter === undefined ? {} : { filter_subject: filter }),
    ...(description === undefined ? {} : { description }),
  };
}

/**
 * Makes sure the durable consumer exists without changing what another process declared: an existing one
 * keeps its description (a pool's requirements); only its ack wait is brought in line.
 */
export async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  name: string,
  ackWaitMs: number,
  filter?: string,
  description?: string,
): Promise<void> {
  let info: ConsumerInfo;
  try {
    info = await jsm.consumers.info(stream, name);
  } catch (err) {
    if (!isConsumerNotFound(err)) throw err;
    await jsm.consumers.add(stream, workConsumer(name, ackWaitMs, filter, description));
    return;
  }
  if (info.config.ack_wait !== nanos(ackWaitMs)) await jsm.consumers.update(stream, name, { ack_wait: nanos(ackWaitMs) });
}

/** Creates the pool's consumer with these requirements, or replaces the requirements of an existing one. */
export async function declarePoolConsumer(
  jsm: JetStreamManager,
  n: Names,
  pool: string,
  requires: Record<string, string>,
  ackWaitMs: number,
): Promise<void> {
  const description = describePool(requires);
  try {
    const info = await jsm.consumers.info(n.streams.jobs, pool);
    if (info.config.description !== description) await jsm.consumers.update(n.streams.jobs, pool, { description });
  } catch (err) {
    if (!isConsumerNotFound(err)) throw err;
    await jsm.consumers.add(n.streams.jobs, workConsumer(pool, ackWaitMs, n.job(pool), description));
  }
}

export const ensurePoolConsumer = (jsm: JetStreamManager, n: Names, pool: string, ackWaitMs: number) =>
  ensureConsumer(jsm, n.streams.jobs, pool, ackWaitMs, n.job(pool), describePool({}));

export const ensureCoordinatorConsumer = (jsm: JetStreamManager, stream: string, ackWaitMs: number) =>
  ensureConsumer(jsm, stream, COORDINATOR_CONSUMER, ackWaitMs);
