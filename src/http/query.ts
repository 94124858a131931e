import { TroupeError } from '../core/errors.js';
import { PRIORITIES, CONTEXTS, STATUSES, RUN_STATUSES } from '../core/statuses.js';
import { decodeCursor, decodeSeqCursor } from '../store/cursor.js';

/** A cursor of one list: another list's cursor (its ids have another prefix) is a 400. */
type CursorKind = 'cursor:exe' | 'cursor:run' | 'cursor:tcs' | 'cursor:sui' | 'cursor:seq' | 'cursor:trg' | 'cursor:ntf';
type Kind = 'limit' | CursorKind | 'time' | 'id' | 'principal' | readonly string[];

/** Query parameters an endpoint accepts and how each is checked. */
export type QuerySpec = Record<string, Kind>;

const TIME_RANGE = { limit: 'limit', createdAfter: 'time', createdBefore: 'time' } as const;
export const EXECUTION_LIST_QUERY = { ...TIME_RANGE, cursor: 'cursor:exe' } as const;
export const RUN_LIST_QUERY = { ...TIME_RANGE, cursor: 'cursor:run' } as const;
export const EXECUTION_QUERY = {
  ...EXECUTION_LIST_QUERY,
  status: STATUSES,
  priority: PRIORITIES,
  context: CONTEXTS,
  runId: 'id',
  owner: 'principal',
} as const satisfies QuerySpec;
/** An execution's events: paged by `seq`, oldest first (a history reads forwards). */
export const EVENT_QUERY = { limit: 'limit', cursor: 'cursor:seq' } as const satisfies QuerySpec;
export const RUN_QUERY = { ...RUN_LIST_QUERY, status: RUN_STATUSES, owner: 'principal' } as const satisfies QuerySpec;

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function bad(name: string, message: string): never {
  throw new TroupeError('VALIDATION_FAILED', `query parameter ${name}: ${message}`, {
    details: [{ path: `?${name}`, message }],
  });
}

export interface ParsedQuery {
  limit: number;
  cursor?: string;
  createdAfter?: number;
  createdBefore?: number;
  values: Record<string, string>;
}

/** Validates a query string against `spec`: unknown or repeated parameters and bad values are a 400. */
export function parseQuery(query: URLSearchParams, spec: QuerySpec): ParsedQuery {
  const parsed: ParsedQuery = { limit: 50, values: {} };
  const seen = new Set<string>();
  for (const [name, value] of query) {
    // Own properties only: `constructor`, `__proto__`, `toString`… are unknown parameters, not Object's members.
    const kind = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (kind === undefined) bad(name, `unknown parameter (accepted: ${Object.keys(spec).join(', ') || 'none'})`);
    if (seen.has(name)) bad(name, 'given more than once');
    seen.add(name);
    if (kind === 'limit') {
      if (!/^\d{1,4}$/.test(value) || Number(value) < 1 || Number(value) > 1000) bad(name, 'must be an integer from 1 to 1000');
      parsed.limit = Number(value);
    } else if (kind === 'time') {
      const ms = Date.parse(value);
      if (!ISO.test(value) || Number.isNaN(ms)) bad(name, 'must be an ISO-8601 date-time');
      if (name === 'createdAfter') parsed.createdAfter = ms;
      else parsed.createdBefore = ms;
    } else if (kind === 'id') {
      if (!/^[\w.:@-]{1,200}$/.test(value)) bad(name, 'not a valid id');
      parsed.values[name] = value;
    } else if (kind === 'principal') {
      // A principal's id is a JWT `sub` or an API key's owner: any text (`auth0|alice`, `alice+qa@example.com`).
      if (!/^[^\p{Cc}]{1,200}$/u.test(value)) bad(name, 'not a valid principal id (1 to 200 characters, no control characters)');
      parsed.values[name] = value;
    } else if (kind === 'cursor:seq') {
      if (decodeSeqCursor(value) === null) bad(name, 'not a cursor this list returned');
      parsed.cursor = value;
    } else if (typeof kind === 'string') {
      // `cursor:<prefix>`: only a cursor of this list's ids.
      if (decodeCursor(value)?.startsWith(`${kind.slice('cursor:'.length)}_`) !== true) bad(name, 'not a cursor this list returned');
      parsed.cursor = value;
    } else {
      if (!kind.includes(value)) bad(name, `must be one of ${kind.join(', ')}`);
      parsed.values[name] = value;
    }
  }
  return parsed;
}

/** The paging part of a parsed list query, as the store takes it. */
export function pageOf(q: ParsedQuery): { limit: number; cursor: string | null; createdAfter?: number; createdBefore?: number } {
  return {
    limit: q.limit,
    cursor: q.cursor ?? null,
    ...(q.createdAfter === undefined ? {} : { createdAfter: q.createdAfter }),
    ...(q.createdBefore === undefined ? {} : { createdBefore: q.createdBefore }),
  };
}
