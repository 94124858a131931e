import { FormatRegistry, Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { CONTEXTS, PRIORITIES, RETRYABLE_OUTCOMES } from './statuses.js';
import { TroupeError } from './errors.js';
import { describeProblem, explainErrors, type SchemaProblem } from './schema-errors.js';

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
if (!FormatRegistry.Has('date-time')) {
  FormatRegistry.Set('date-time', (value) => ISO_DATE_TIME.test(value) && !Number.isNaN(Date.parse(value)));
}

/** Wire schemas (SPEC §7). Unknown fields are rejected everywhere. */
const strict = { additionalProperties: false } as const;
const literalUnion = <T extends readonly string[]>(values: T) =>
  Type.Unsafe<T[number]>(Type.Union(values.map((v) => Type.Literal(v))));

export const RetryPolicySchema = Type.Object(
  {
    maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    delayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000 })),
    backoff: Type.Optional(literalUnion(['fixed', 'exponential'] as const)),
    maxDelayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000 })),
    jitter: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    retryOn: Type.Optional(Type.Array(literalUnion(RETRYABLE_OUTCOMES), { uniqueItems: true })),
  },
  strict,
);
export type RetryPolicyInput = Static<typeof RetryPolicySchema>;

const HttpRequestSchema = Type.Object(
  {
    method: literalUnion(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const),
    url: Type.String({ minLength: 1, maxLength: 8192 }),
    headers: Type.Optional(Type.Record(Type.String(), Type.String())),
    body: Type.Optional(Type.Unknown()),
  },
  strict,
);

const HttpExpectSchema = Type.Object(
  {
    status: Type.Optional(Type.Integer({ minimum: 100, maximum: 599 })),
    headers: Type.Optional(Type.Record(Type.String(), Type.String())),
    json: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    bodyContains: Type.Optional(Type.String()),
    maxMs: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  strict,
);

const ExecExpectSchema = Type.Object(
  {
    exitCode: Type.Optional(Type.Integer({ minimum: 0, maximum: 255 })),
    stdoutContains: Type.Optional(Type.String()),
    stderrContains: Type.Optional(Type.String()),
  },
  strict,
);

/** `exec` (SPEC §4): a command in a child process. Runs only with TROUPE_EXEC_ENABLED (checked in items.ts). */
const ExecStepSchema = Type.Object(
  {
    action: Type.Literal('exec'),
    name: Type.Optional(Type.String()),
    command: Type.String({ minLength: 1, maxLength: 4096 }),
    args: Type.Optional(Type.Array(Type.String({ maxLength: 65_536 }), { maxItems: 1000 })),
    env: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.String())),
    shell: Type.Optional(Type.Boolean()),
    expect: Type.Optional(ExecExpectSchema),
    /** A JUnit XML file the command writes, relative to its working directory (checked in items.ts). */
    junit: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 86_400_000 })),
  },
  strict,
);

export const GenericStepSchema = Type.Union([
  Type.Object({ action: Type.Literal('noop'), name: Type.Optional(Type.String()) }, strict),
  Type.Object(
    { action: Type.Literal('sleep'), ms: Type.Integer({ minimum: 0, maximum: 86_400_000 }), name: Type.Optional(Type.String()) },
    strict,
  ),
  Type.Object(
    {
      action: Type.Literal('http'),
      name: Type.Optional(Type.String()),
      request: HttpRequestSchema,
      expect: Type.Optional(HttpExpectSchema),
    },
    strict,
  ),
  ExecStepSchema,
]);
export type GenericStep = Static<typeof GenericStepSchema>;

export const ManualStepSchema = Type.Object(
  { instruction: Type.String({ minLength: 1 }), expected: Type.String() },
  strict,
);
export type ManualStep = Static<typeof ManualStepSchema>;

/** `POST /v1/executions/:id/steps/:n/verdict` and the live channel's `verdict` op (SPEC §5, §7). */
export const VerdictSchema = Type.Object(
  {
    verdict: literalUnion(['passed', 'failed', 'skipped'] as const),
    comment: Type.Optional(Type.String({ maxLength: 10_000 })),
    /** A reference to evidence kept elsewhere (a URL or an artifact id), not the file itself. */
    attachment: Type.Optional(Type.String({ minLength: 1, maxLength: 2_000 })),
  },
  strict,
);

export const TestItemSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 500 }),
    type: literalUnion(['GENERIC', 'BDD', 'MANUAL'] as const),
    steps: Type.Optional(Type.Array(Type.Unknown(), { maxItems: 10_000 })),
    feature: Type.Optional(Type.String({ minLength: 1 })),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 86_400_000 })),
    queueTimeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
    pauseTimeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
    retry: Type.Optional(RetryPolicySchema),
    requires: Type.Optional(Type.Record(Type.String(), Type.String())),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    priority: Type.Optional(literalUnion(PRIORITIES)),
    scheduledAt: Type.Optional(Type.String({ format: 'date-time' })),
  },
  strict,
);
export type TestItem = Static<typeof TestItemSchema>;

export const ExecutionContextSchema = literalUnion(CONTEXTS);

export const RunRequestSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
    context: Type.Optional(literalUnion(CONTEXTS)),
    priority: Type.Optional(literalUnion(PRIORITIES)),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    failFast: Type.Optional(Type.Boolean()),
    maxParallel: Type.Optional(Type.Integer({ minimum: 1 })),
    idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    items: Type.Optional(Type.Array(TestItemSchema, { minItems: 1, maxItems: 100_000 })),
    suiteId: Type.Optional(Type.String({ minLength: 1 })),
  },
  strict,
);
export type RunRequest = Static<typeof RunRequestSchema>;

/** The run body with its items left unchecked, so each item is then validated with its index and name. */
export const RunEnvelopeSchema = Type.Composite(
  [
    Type.Omit(RunRequestSchema, ['items']),
    Type.Object({ items: Type.Optional(Type.Array(Type.Unknown(), { minItems: 1, maxItems: 100_000 })) }),
  ],
  strict,
);

const compiled = new Map<TSchema, TypeCheck<TSchema>>();
function checker<T extends TSchema>(schema: T): TypeCheck<T> {
  let check = compiled.get(schema);
  if (!check) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  return check as TypeCheck<T>;
}

export type { SchemaProblem };

/**
 * Validates `value`; returns it typed or throws VALIDATION_FAILED listing the first problems, each naming the
 * bad value and, for a choice of values, the accepted ones (schema-errors.ts).
 */
export function validate<T extends TSchema>(schema: T, value: unknown, what: string): Static<T> {
  const check = checker(schema);
  if (check.Check(value)) return value;
  const problems = explainErrors(check.Errors(value));
  const first = problems[0];
  throw new TroupeError('VALIDATION_FAILED', `${what}: ${first ? describeProblem(first) : 'invalid'}`, {
    details: problems,
  });
}

/** What is wrong with `value` (explained as by `validate`), or an empty list when it matches `schema`. */
export function problemsOf(schema: TSchema, value: unknown, max = 10): SchemaProblem[] {
  const check = checker(schema);
  return check.Check(value) ? [] : explainErrors(check.Errors(value), max);
}
