/**
 * Stream, consumer and subject names of the JetStream bus, all derived from one prefix so that several
 * installations (or test suites) can share a server. With the default prefix `troupe`:
 *
 * | what | subject | stream |
 * |---|---|---|
 * | jobs | `troupe.jobs.<pool>` | `TROUPE_JOBS` (work queue; one durable consumer per pool, named after it) |
 * | results | `troupe.results.<executionId>` | `TROUPE_RESULTS` (work queue; durable consumer `coordinator`) |
 * | dead letters | `troupe.dead.<pool>` | `TROUPE_DEAD` (limits, 14 days; durable consumer `coordinator`) |
 * | transitions | `troupe.events.<runId or _>.<executionId>.<STATUS>` | `TROUPE_EVENTS` (limits, 24 h) |
 * | control | `troupe.control.<executionId>` | none: core NATS |
 * | heartbeats | `troupe.agents.<agentId>` | none: core NATS |
 */

export const DEFAULT_PREFIX = 'troupe';

/**
 * A prefix is one lower-case subject token; upper-cased it starts the stream names, so two prefixes differing
 * only in case would share streams.
 */
const PREFIX_PATTERN = /^[a-z0-9_-]{1,32}$/;

/** Durable consumer of results and dead letters. */
export const COORDINATOR_CONSUMER = 'coordinator';

export interface Names {
  readonly prefix: string;
  readonly streams: { readonly jobs: string; readonly results: string; readonly dead: string; readonly events: string };
  job(pool: string): string;
  result(executionId: string): string;
  dead(pool: string): string;
  transition(runId: string | null, executionId: string, to: string): string;
  control(executionId: string): string;
  agent(agentId: string): string;
  readonly all: { readonly jobs: string; readonly results: string; readonly dead: string; readonly events: string };
  readonly allControl: string;
  readonly allAgents: string;
}

/**
 * Makes an arbitrary id usable as a single subject token. Ids minted by Troupe are already tokens; this
 * only guards against ids from elsewhere (a host name with dots as an agent id).
 */
export function token(value: string): string {
  const cleaned = value.replace(/[^A-Za-z0-9_-]/g, '_');
  return cleaned === '' ? '_' : cleaned;
}

export function names(prefix = DEFAULT_PREFIX): Names {
  if (!PREFIX_PATTERN.test(prefix)) throw new RangeError(`invalid bus prefix ${JSON.stringify(prefix)}`);
  const stream = (what: string) => `${prefix.toUpperCase()}_${what}`;
  return {
    prefix,
    streams: { jobs: stream('JOBS'), results: stream('RESULTS'), dead: stream('DEAD'), events: stream('EVENTS') },
    job: (pool) => `${prefix}.jobs.${pool}`,
    result: (executionId) => `${prefix}.results.${token(executionId)}`,
    dead: (pool) => `${prefix}.dead.${pool}`,
    transition: (runId, executionId, to) => `${prefix}.events.${runId === null ? '_' : token(runId)}.${token(executionId)}.${to}`,
    control: (executionId) => `${prefix}.control.${token(executionId)}`,
    agent: (agentId) => `${prefix}.agents.${token(agentId)}`,
    all: {
      jobs: `${prefix}.jobs.>`,
      results: `${prefix}.results.>`,
      dead: `${prefix}.dead.>`,
      events: `${prefix}.events.>`,
    },
    allControl: `${prefix}.control.>`,
    allAgents: `${prefix}.agents.>`,
  };
}
