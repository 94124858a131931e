import { Type, type Static } from '@sinclair/typebox';
import { TroupeError } from '../../core/errors.js';
import { validate } from '../../core/schemas.js';
import type { LogEntry } from '../../store/store.port.js';

/** Live-channel wire format (SPEC §5 "Live channels", §7 "Live events"). */

export type TopicKind = 'execution' | 'run' | 'user';

export interface Topic {
  kind: TopicKind;
  id: string;
  /** As the client wrote it: `<kind>:<id>`; the `topic` field of every message on it. */
  name: string;
  /** The uWebSockets.js topic: the id percent-encoded, so `/`, `+` and `#` in a user id mean nothing to uWS. */
  key: string;
}

/** Every socket is subscribed to this uWS topic: heartbeats travel in order with the events. */
export const BROADCAST_KEY = '$live';

/** The largest topic list one message may carry. */
export const MAX_TOPICS_PER_MESSAGE = 100;

const TOPIC = /^(execution|run|user):(.+)$/;

export function topic(kind: TopicKind, id: string): Topic {
  return { kind, id, name: `${kind}:${id}`, key: `${kind}:${encodeURIComponent(id)}` };
}

const strict = { additionalProperties: false } as const;
const TopicsSchema = Type.Array(Type.String({ pattern: TOPIC.source, minLength: 3, maxLength: 300 }), {
  minItems: 1,
  maxItems: MAX_TOPICS_PER_MESSAGE,
});
const SubscribeSchema = Type.Object(
  {
    op: Type.Literal('subscribe'),
    topics: TopicsSchema,
    since: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
  },
  strict,
);
const UnsubscribeSchema = Type.Object({ op: Type.Literal('unsubscribe'), topics: TopicsSchema }, strict);
/** A MANUAL step's verdict, as over `POST /v1/executions/:id/steps/:n/verdict`. */
export const VerdictMessageSchema = Type.Object(
  {
    op: Type.Literal('verdict'),
    executionId: Type.String({ minLength: 1, maxLength: 200 }),
    index: Type.Integer({ minimum: 0, maximum: 999_999 }),
    verdict: Type.Union([Type.Literal('passed'), Type.Literal('failed'), Type.Literal('skipped')]),
    comment: Type.Optional(Type.String({ maxLength: 10_000 })),
    attachment: Type.Optional(Type.String({ minLength: 1, maxLength: 2_000 })),
  },
  strict,
);

export type VerdictMessage = Static<typeof VerdictMessageSchema>;

export type ClientMessage =
  | { op: 'subscribe'; topics: Topic[]; since: number | undefined }
  | { op: 'unsubscribe'; topics: Topic[] }
  | VerdictMessage;

function toTopics(names: string[]): Topic[] {
  const seen = new Map<string, Topic>();
  for (const name of names) {
    const match = TOPIC.exec(name);
    if (match) seen.set(name, topic(match[1] as TopicKind, match[2] as string));
  }
  return [...seen.values()];
}

/** Parses one client message; anything malformed throws VALIDATION_FAILED naming the problem. */
export function parseClientMessage(text: string, isBinary: boolean): ClientMessage {
  if (isBinary) throw new TroupeError('VALIDATION_FAILED', 'send text frames holding JSON, not binary frames');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new TroupeError('VALIDATION_FAILED', `the message is not valid JSON: ${(err as Error).message}`);
  }
  const op = typeof value === 'object' && value !== null ? (value as { op?: unknown }).op : undefined;
  if (op === 'subscribe') {
    const msg = validate(SubscribeSchema, value, 'subscribe');
    return { op, topics: toTopics(msg.topics), since: msg.since };
  }
  if (op === 'unsubscribe') {
    const msg = validate(UnsubscribeSchema, value, 'unsubscribe');
    return { op, topics: toTopics(msg.topics) };
  }
  if (op === 'verdict') return validate(VerdictMessageSchema, value, 'verdict');
  throw new TroupeError('VALIDATION_FAILED', 'send an object with "op": "subscribe", "unsubscribe" or "verdict"');
}

/** The JSON of a log entry as live clients see it (SPEC §7); built once per event, shared by its topics. */
export function eventJson(e: LogEntry): string {
  if (e.kind === 'step') {
    const s = e.step;
    return JSON.stringify({
      type: 'step',
      executionId: e.executionId,
      runId: e.runId,
      attempt: s.attempt,
      index: s.index,
      name: s.name,
      status: s.status,
      startedAt: new Date(s.startedAt).toISOString(),
      durationMs: s.durationMs,
      ...(s.error ? { error: s.error } : {}),
      ...(s.output === undefined ? {} : { output: s.output }),
      ...(s.caseOf === undefined ? {} : { caseOf: s.caseOf }),
    });
  }
  const r = e.record;
  return JSON.stringify({
    type: 'transition',
    executionId: e.executionId,
    runId: e.runId,
    seq: r.seq,
    from: r.from,
    to: r.to,
    event: r.event,
    at: new Date(r.at).toISOString(),
    attempt: r.attempt,
    reason: r.reason,
  });
}

/** `{ topic, cursor, event }` around an already serialised event. */
export function eventMessage(topicName: string, cursor: number, json: string): string {
  return `{"topic":${JSON.stringify(topicName)},"cursor":${cursor},"event":${json}}`;
}

/** The topics an event belongs to, in the order it is delivered on them. */
export function topicsOf(e: Pick<LogEntry, 'executionId' | 'runId'>, owner: string | undefined): Topic[] {
  const topics = [topic('execution', e.executionId)];
  if (e.runId !== null) topics.push(topic('run', e.runId));
  if (owner !== undefined) topics.push(topic('user', owner));
  return topics;
}

export function errorMessage(err: TroupeError, topicName?: string): string {
  return JSON.stringify({ op: 'error', ...(topicName === undefined ? {} : { topic: topicName }), ...err.toJSON() });
}
