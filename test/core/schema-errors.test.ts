import type { TSchema } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { TroupeError } from '../../src/core/errors.js';
import { validateItem } from '../../src/core/items.js';
import {
  ExecutionContextSchema,
  GenericStepSchema,
  ManualStepSchema,
  RunRequestSchema,
  TestItemSchema,
  VerdictSchema,
  validate,
} from '../../src/core/schemas.js';
import { CONTEXTS, PRIORITIES } from '../../src/core/statuses.js';
import { VerdictMessageSchema, parseClientMessage } from '../../src/http/live/protocol.js';
import { CreateKeySchema } from '../../src/http/routes/admin.routes.js';
import { definitionsFor } from '../../src/runners/registry.js';

/**
 * SPEC §5: a definition that does not match its schema is a 400 naming the problem. A choice of values (a
 * union) must name the bad value and list the accepted ones, never TypeBox's bare "Expected union value".
 */

const definitions = definitionsFor(['GENERIC', 'BDD', 'MANUAL']);

function failure(fn: () => unknown): TroupeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TroupeError);
    return err as TroupeError;
  }
  throw new Error('expected a validation error');
}

const item = (extra: Record<string, unknown> = {}, steps: unknown[] = [{ action: 'noop' }]) => ({ name: 'x', type: 'GENERIC', steps, ...extra });
const checkItem = (value: unknown) => failure(() => validateItem(value, 0, definitions, { execEnabled: true }));

/** Every path in `schema` where a value must be one of a union's choices (`/0` stands for any array element). */
function unionPaths(schema: TSchema, path = ''): string[] {
  const s = schema as { anyOf?: TSchema[]; type?: string; properties?: Record<string, TSchema>; items?: TSchema };
  if (s.anyOf) return [path || '/', ...s.anyOf.flatMap((variant) => unionPaths(variant, path))];
  if (s.type === 'object' && s.properties) return Object.entries(s.properties).flatMap(([key, sub]) => unionPaths(sub, `${path}/${key}`));
  if (s.type === 'array' && s.items) return unionPaths(s.items, `${path}/0`);
  return [];
}

interface UnionCase {
  /** Where the bad value goes, as unionPaths names it. */
  path: string;
  accepted: readonly string[];
  /** The error for a document with `bad` at `path`. */
  error: (bad: unknown) => TroupeError;
}

/** Each user-facing schema with a case for each of its unions (the coverage test below keeps the lists complete). */
const SCHEMAS: { name: string; schema: TSchema; cases: UnionCase[] }[] = [
  {
    name: 'test item',
    schema: TestItemSchema,
    cases: [
      { path: '/type', accepted: ['GENERIC', 'BDD', 'MANUAL'], error: (bad) => checkItem(item({ type: bad })) },
      { path: '/priority', accepted: PRIORITIES, error: (bad) => checkItem(item({ priority: bad })) },
      { path: '/retry/backoff', accepted: ['fixed', 'exponential'], error: (bad) => checkItem(item({ retry: { backoff: bad } })) },
      { path: '/retry/retryOn/0', accepted: ['FAILED', 'ERROR', 'TIMEOUT'], error: (bad) => checkItem(item({ retry: { retryOn: ['ERROR', bad] } })) },
    ],
  },
  {
    name: 'GENERIC step',
    schema: GenericStepSchema,
    cases: [
      { path: '/', accepted: ['noop', 'sleep', 'http', 'exec'], error: (bad) => checkItem(item({}, [{ action: 'noop' }, { action: bad }])) },
      {
        path: '/request/method',
        accepted: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'],
        error: (bad) => checkItem(item({}, [{ action: 'http', request: { method: bad, url: 'http://x' } }])),
      },
    ],
  },
  { name: 'MANUAL step', schema: ManualStepSchema, cases: [] },
  {
    name: 'run',
    schema: RunRequestSchema,
    cases: [
      { path: '/context', accepted: CONTEXTS, error: (bad) => failure(() => validate(RunRequestSchema, { items: [item()], context: bad }, 'run')) },
      { path: '/priority', accepted: PRIORITIES, error: (bad) => failure(() => validate(RunRequestSchema, { items: [item()], priority: bad }, 'run')) },
      // The run's items are test items: the cases above.
      { path: '/items/0/type', accepted: ['GENERIC', 'BDD', 'MANUAL'], error: (bad) => checkItem(item({ type: bad })) },
      { path: '/items/0/priority', accepted: PRIORITIES, error: (bad) => checkItem(item({ priority: bad })) },
      { path: '/items/0/retry/backoff', accepted: ['fixed', 'exponential'], error: (bad) => checkItem(item({ retry: { backoff: bad } })) },
      { path: '/items/0/retry/retryOn/0', accepted: ['FAILED', 'ERROR', 'TIMEOUT'], error: (bad) => checkItem(item({ retry: { retryOn: [bad] } })) },
    ],
  },
  { name: 'execution context', schema: ExecutionContextSchema, cases: [{ path: '/', accepted: CONTEXTS, error: (bad) => failure(() => validate(ExecutionContextSchema, bad, 'execution context')) }] },
  { name: 'verdict', schema: VerdictSchema, cases: [{ path: '/verdict', accepted: ['passed', 'failed', 'skipped'], error: (bad) => failure(() => validate(VerdictSchema, { verdict: bad }, 'verdict')) }] },
  {
    name: 'live verdict message',
    schema: VerdictMessageSchema,
    cases: [
      {
        path: '/verdict',
        accepted: ['passed', 'failed', 'skipped'],
        error: (bad) => failure(() => parseClientMessage(JSON.stringify({ op: 'verdict', executionId: 'exe_1', index: 0, verdict: bad }), false)),
      },
    ],
  },
  { name: 'API key', schema: CreateKeySchema, cases: [{ path: '/role', accepted: ['viewer', 'runner', 'admin'], error: (bad) => failure(() => validate(CreateKeySchema, { name: 'k', role: bad }, 'key')) }] },
];

describe('union errors name the bad value and the accepted ones', () => {
  it.each(SCHEMAS.map((s) => [s.name, s] as const))('every union of the %s schema has a case', (_name, { schema, cases }) => {
    expect([...new Set(unionPaths(schema))].sort()).toEqual(cases.map((c) => c.path).sort());
  });

  const all = SCHEMAS.flatMap((s) => s.cases.map((c) => [`${s.name} ${c.path}`, c] as const));
  it.each(all)('%s: a bad string and a bad non-string are named, with every accepted value', (_name, { accepted, error }) => {
    for (const bad of ['teleport', 42, null]) {
      const err = error(bad);
      expect(err.code).toBe('VALIDATION_FAILED');
      expect(err.message).not.toMatch(/union/i);
      expect(err.message).toContain(JSON.stringify(bad));
      expect(err.message).toContain(`expected one of ${accepted.join(', ')}`);
      // The details point at the field, not at the object holding it.
      const details = err.details as { path: string; message: string }[];
      expect(details[0]?.message).toContain(JSON.stringify(bad));
    }
  });
});

describe('the messages a user sees', () => {
  it('an unknown step action names the step, the action and the accepted ones (the example of issue 9)', () => {
    const err = checkItem(item({}, [{ action: 'teleport' }]));
    expect(err.message).toBe('item 0 (x): step 0: unknown action "teleport"; expected one of noop, sleep, http, exec');
    expect(err.details).toEqual([{ path: '/items/0/steps/0/action', message: 'step 0: unknown action "teleport"; expected one of noop, sleep, http, exec' }]);
  });

  it.each([
    ['a sleep whose ms is not a number', { action: 'sleep', ms: 'x' }, '/items/0/steps/0/ms', 'step 0: /ms Expected integer'],
    ['a sleep without ms', { action: 'sleep' }, '/items/0/steps/0/ms', 'step 0: /ms Expected required property'],
    ['an http step with an unknown method', { action: 'http', request: { method: 'FETCH', url: 'http://x' } }, '/items/0/steps/0/request/method',
      'step 0: /request/method unknown method "FETCH"; expected one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS'],
    ['an http step without a url', { action: 'http', request: { method: 'GET' } }, '/items/0/steps/0/request/url', 'step 0: /request/url Expected required property'],
    ['an exec step whose args are not strings', { action: 'exec', command: 'ls', args: [1] }, '/items/0/steps/0/args/0', 'step 0: /args/0 Expected string'],
    ['a noop with a field it does not have', { action: 'noop', ms: 1 }, '/items/0/steps/0/ms', 'step 0: /ms Unexpected property'],
    ['a step without an action', { ms: 1 }, '/items/0/steps/0/action', 'step 0: missing action; expected one of noop, sleep, http, exec'],
    ['a step that is not an object', 'sleep', '/items/0/steps/0', 'step 0: expected an object with "action" (one of noop, sleep, http, exec), got "sleep"'],
  ])('a known action with a wrong field points at that field: %s', (_what, step, path, message) => {
    const err = checkItem(item({}, [step]));
    expect(err.message).toBe(`item 0 (x): ${message}`);
    expect((err.details as { path: string }[])[0]?.path).toBe(path);
  });

  it('a MANUAL step names the missing field', () => {
    const err = checkItem({ name: 'm', type: 'MANUAL', steps: [{ instruction: 'click' }] });
    expect(err.message).toBe('item 0 (m): step 0: /expected Expected required property');
  });

  it('a run lists each problem with its path', () => {
    const err = failure(() => validate(RunRequestSchema, { items: [item()], context: 'CI', priority: 'URGENT' }, 'run'));
    expect(err.message).toBe(`run: unknown context "CI"; expected one of ${CONTEXTS.join(', ')}`);
    expect(err.details).toEqual([
      { path: '/context', message: `unknown context "CI"; expected one of ${CONTEXTS.join(', ')}` },
      { path: '/priority', message: `unknown priority "URGENT"; expected one of ${PRIORITIES.join(', ')}` },
    ]);
  });

  it('a huge bad value is quoted cut short', () => {
    const err = checkItem(item({ priority: 'P'.repeat(10_000) }));
    expect(err.message.length).toBeLessThan(200);
    expect(err.message).toContain(`"${'P'.repeat(20)}`);
  });
});
