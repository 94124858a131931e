import { Type, type TSchema } from '@sinclair/typebox';
import { ERROR_CODES } from '../core/errors.js';
import { RunRequestSchema, TestItemSchema, ExecutionContextSchema, VerdictSchema } from '../core/schemas.js';
import { CONTEXTS, PRIORITIES, RUN_STATUSES, STATUSES } from '../core/statuses.js';
import { CreateKeySchema } from './routes/admin.routes.js';
import { SuiteBodySchema } from './routes/catalog.routes.js';
import { CommandBodySchema } from './routes/executions.routes.js';
import { TriggerBodySchema } from './routes/triggers.routes.js';

/** The OpenAPI 3.1 document, generated from the same TypeBox schemas that validate requests. */

const ErrorSchema = Type.Object({
  error: Type.Object({
    code: Type.Union(Object.keys(ERROR_CODES).map((c) => Type.Literal(c))),
    message: Type.String(),
    details: Type.Unknown(),
  }),
});
const ExecutionCreateSchema = Type.Composite([TestItemSchema, Type.Object({ context: Type.Optional(ExecutionContextSchema) })], {
  additionalProperties: false,
});

const strip = (schema: TSchema): unknown => JSON.parse(JSON.stringify(schema)) as unknown;
const json = (schema: TSchema) => ({ content: { 'application/json': { schema: strip(schema) } } });
const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [String(s), { description: 'error', ...json(ErrorSchema) }]));
const enumParam = (name: string, values: readonly string[]) => ({ name, in: 'query', schema: { type: 'string', enum: values } });
const listParams = [
  { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 50 } },
  { name: 'cursor', in: 'query', schema: { type: 'string' } },
  { name: 'createdAfter', in: 'query', schema: { type: 'string', format: 'date-time' } },
  { name: 'createdBefore', in: 'query', schema: { type: 'string', format: 'date-time' } },
];
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const jobIdParam = { name: 'jobId', in: 'path', required: true, schema: { type: 'string' } };
const ok = (description: string) => ({ description, content: { 'application/json': { schema: { type: 'object' } } } });
const common = errors(401, 404, 429);
const headerParam = (name: string, required = true) => ({ name, in: 'header', required, schema: { type: 'string' } });
const hook = (summary: string, headers: string[]) => ({
  post: {
    summary,
    security: [],
    parameters: headers.map((h) => headerParam(h)),
    requestBody: { required: true, content: { 'application/json': { schema: { type: 'object' } } } },
    responses: { '202': ok('{ delivery, runs: [runId] }'), ...errors(400, 401, 404, 413, 415, 429, 503) },
  },
});

export function openApiDocument(version: string) {
  const command = (name: string, what: string) => ({
    post: {
      summary: what,
      parameters: [idParam],
      requestBody: { required: false, ...json(CommandBodySchema) },
      responses: { [name === 'retry' ? '201' : '200']: ok('the execution'), ...common, ...errors(403, 409) },
    },
  });
  return {
    openapi: '3.1.0',
    info: { title: 'Troupe', version, description: 'Test execution engine API' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'JWT or troupe_ API key' } } },
    security: [{ bearer: [] }],
    paths: {
      '/v1/executions': {
        post: {
          summary: 'Create one execution',
          requestBody: { required: true, ...json(ExecutionCreateSchema) },
          responses: { '201': ok('the execution'), ...common, ...errors(400, 403, 413, 415) },
        },
        get: {
          summary: 'List executions, newest first',
          parameters: [...listParams, enumParam('status', STATUSES), enumParam('priority', PRIORITIES), enumParam('context', CONTEXTS),
            { name: 'runId', in: 'query', schema: { type: 'string' } }, { name: 'owner', in: 'query', schema: { type: 'string' } }],
          responses: { '200': ok('{ items, next }'), ...common, ...errors(400) },
        },
      },
      '/v1/executions/{id}': { get: { summary: 'Get an execution', parameters: [idParam], responses: { '200': ok('the execution'), ...common } } },
      '/v1/executions/{id}/steps': { get: { summary: 'Steps of an execution', parameters: [idParam], responses: { '200': ok('{ items }'), ...common } } },
      '/v1/executions/{id}/events': { get: { summary: 'Transitions of an execution, paged by seq (oldest first)', parameters: [idParam, ...listParams.slice(0, 2)], responses: { '200': ok('{ items, next }'), ...common, ...errors(400) } } },
      '/v1/executions/{id}/cancel': command('cancel', 'Cancel (graceful stop)'),
      '/v1/executions/{id}/pause': command('pause', 'Pause'),
      '/v1/executions/{id}/resume': command('resume', 'Resume'),
      '/v1/executions/{id}/abort': command('abort', 'Abort (forced stop, admin)'),
      '/v1/executions/{id}/retry': command('retry', 'Run a finished execution again as a new execution (rerunOf)'),
      '/v1/runs': {
        post: {
          summary: 'Submit a run',
          requestBody: { required: true, ...json(RunRequestSchema) },
          responses: { '201': ok('{ id, status, executionIds }'), '200': ok('an earlier run with the same idempotencyKey'), ...common, ...errors(400, 403, 409, 413, 415) },
        },
        get: { summary: 'List runs, newest first', parameters: [...listParams, enumParam('status', RUN_STATUSES), { name: 'owner', in: 'query', schema: { type: 'string' } }], responses: { '200': ok('{ items, next }'), ...common, ...errors(400) } },
      },
      '/v1/runs/{id}': { get: { summary: 'Get a run with live counts', parameters: [idParam], responses: { '200': ok('the run'), ...common } } },
      '/v1/runs/{id}/executions': { get: { summary: "A run's executions", parameters: [idParam, ...listParams, enumParam('status', STATUSES)], responses: { '200': ok('{ items, next }'), ...common } } },
      '/v1/runs/{id}/report': {
        get: {
          summary: "A run's report: summary, tests, failures, retries and flaky marks (JSON), JUnit XML or one self-contained HTML page",
          parameters: [idParam, enumParam('format', ['json', 'junit', 'html'])],
          responses: { '200': ok('{ run, summary, tests }, JUnit XML (application/xml) or an HTML page (text/html)'), ...common },
        },
      },
      '/v1/runs/{id}/compare/{baseId}': {
        get: {
          summary: 'How a run changed against an earlier run: new failures, fixed, still failing, flaky, added, removed, slower',
          parameters: [idParam, { name: 'baseId', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { '200': ok('{ baseRunId, newFailures, fixed, stillFailing, flaky, added, removed, slower }'), ...common },
        },
      },
      '/v1/runs/{id}/cancel': { post: { summary: 'Cancel a run', parameters: [idParam], responses: { '202': ok('cancelling'), ...common, ...errors(403, 409) } } },
      '/v1/testcases': {
        post: { summary: 'Store a test case', requestBody: { required: true, ...json(TestItemSchema) }, responses: { '201': ok('the test case'), ...common, ...errors(400, 403) } },
        get: { summary: 'List test cases', parameters: listParams.slice(0, 2), responses: { '200': ok('{ items, next }'), ...common } },
      },
      '/v1/testcases/{id}': {
        get: { summary: 'Get a test case', parameters: [idParam], responses: { '200': ok('the test case'), ...common } },
        put: { summary: 'Replace a test case (version + 1)', parameters: [idParam], requestBody: { required: true, ...json(TestItemSchema) }, responses: { '200': ok('the test case'), ...common, ...errors(400, 403, 409) } },
        delete: { summary: 'Delete a test case', parameters: [idParam], responses: { '200': ok('deleted'), ...common, ...errors(403) } },
      },
      '/v1/suites': {
        post: { summary: 'Store a suite of test cases', requestBody: { required: true, ...json(SuiteBodySchema) }, responses: { '201': ok('the suite'), ...common, ...errors(400, 403) } },
        get: { summary: 'List suites', parameters: listParams.slice(0, 2), responses: { '200': ok('{ items, next }'), ...common } },
      },
      '/v1/suites/{id}': {
        get: { summary: 'Get a suite', parameters: [idParam], responses: { '200': ok('the suite'), ...common } },
        put: { summary: 'Replace a suite (version + 1)', parameters: [idParam], requestBody: { required: true, ...json(SuiteBodySchema) }, responses: { '200': ok('the suite'), ...common, ...errors(400, 403, 409) } },
        delete: { summary: 'Delete a suite', parameters: [idParam], responses: { '200': ok('deleted'), ...common, ...errors(403) } },
      },
      '/v1/audit': { get: { summary: 'Audit log (admin)', parameters: [listParams[0]], responses: { '200': ok('{ items }'), ...common, ...errors(403) } } },
      '/v1/keys': {
        post: { summary: 'Create an API key (admin); the secret is shown once', requestBody: { required: true, ...json(CreateKeySchema) }, responses: { '201': ok('the key'), ...common, ...errors(400, 403) } },
        get: { summary: 'List API keys (admin)', responses: { '200': ok('{ items }'), ...common, ...errors(403) } },
      },
      '/v1/keys/{id}': { delete: { summary: 'Revoke an API key (admin)', parameters: [idParam], responses: { '200': ok('revoked'), ...common, ...errors(403) } } },
      '/v1/executions/{id}/steps/{n}/verdict': { post: { summary: "A tester's verdict on the awaited step of a PAUSED MANUAL execution (owner or admin); answers once the execution has moved on", parameters: [idParam, { name: 'n', in: 'path', required: true, schema: { type: 'integer', minimum: 0 } }], requestBody: { required: true, ...json(VerdictSchema) }, responses: { '200': ok('the execution'), ...common, ...errors(400, 403, 409) } } },
      '/v1/me': { get: { summary: 'Who the credentials are: { id, roles }', responses: { '200': ok('{ id, roles }'), ...common } } },
      '/v1/queue': { get: { summary: 'The queue: waiting executions by priority, running against capacity', responses: { '200': ok('{ depth, queued, running, capacity, live }'), ...common } } },
      '/v1/agents': { get: { summary: 'Live agents (distributed mode): capacity, running, pools, labels, runners', responses: { '200': ok('{ items }'), ...common } } },
      '/v1/dead-letters': { get: { summary: 'Dead-lettered jobs, newest first (admin)', responses: { '200': ok('{ items }'), ...common, ...errors(403) } } },
      '/v1/dead-letters/{jobId}': { delete: { summary: 'Discard a dead letter (admin)', parameters: [jobIdParam], responses: { '200': ok('discarded'), ...common, ...errors(403) } } },
      '/v1/dead-letters/{jobId}/redrive': { post: { summary: "Run a dead letter's execution again as a new execution linked by rerunOf (admin)", parameters: [jobIdParam], responses: { '201': ok('the new execution'), ...common, ...errors(403, 409) } } },
      '/v1/triggers': {
        post: { summary: 'Create a CI trigger (runner, admin); the notify secret is never shown again', requestBody: { required: true, ...json(TriggerBodySchema) }, responses: { '201': ok('the trigger'), ...common, ...errors(400, 403) } },
        get: { summary: "List triggers, newest first (the caller's own; an admin's: everyone's)", parameters: listParams.slice(0, 2), responses: { '200': ok('{ items, next }'), ...common, ...errors(400) } },
      },
      '/v1/triggers/{id}': {
        get: { summary: 'Get a trigger', parameters: [idParam], responses: { '200': ok('the trigger'), ...common } },
        delete: { summary: 'Delete a trigger (owner or admin)', parameters: [idParam], responses: { '200': ok('deleted'), ...common, ...errors(403) } },
      },
      '/v1/triggers/{id}/deliveries': { get: { summary: "Attempts at posting the trigger's run reports to notify.url, newest first", parameters: [idParam, ...listParams.slice(0, 2)], responses: { '200': ok('{ items, next }'), ...common, ...errors(400) } } },
      '/v1/hooks/github': hook('GitHub webhook, authenticated by X-Hub-Signature-256 (HMAC-SHA256 of the raw body)', ['X-Hub-Signature-256', 'X-GitHub-Event', 'X-GitHub-Delivery']),
      '/v1/hooks/gitlab': hook('GitLab webhook, authenticated by X-Gitlab-Token', ['X-Gitlab-Token', 'X-Gitlab-Event', 'X-Gitlab-Event-UUID']),
      '/v1/live': { get: { summary: 'Live channel (WebSocket upgrade); see docs/api.md', responses: { '101': { description: 'switching protocols' }, ...errors(401, 429) } } },
      '/': { get: { summary: 'The dashboard (HTML, never cached)', security: [], responses: { '200': { description: 'text/html' }, '503': { description: 'the dashboard was not built' } } } },
      '/assets/{name}': { get: { summary: "The dashboard's hashed assets (cached for good)", security: [], parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }], responses: { '200': { description: 'text/javascript or text/css' }, '404': { description: 'no such asset' } } } },
      '/healthz': { get: { summary: 'Process is up', security: [], responses: { '200': ok('ok') } } },
      '/readyz': { get: { summary: 'Store and bus reachable', security: [], responses: { '200': ok('ready'), '503': ok('not ready') } } },
      '/metrics': { get: { summary: 'Prometheus metrics', security: [], responses: { '200': { description: 'text exposition' } } } },
      '/openapi.json': { get: { summary: 'This document', security: [], responses: { '200': ok('OpenAPI 3.1') } } },
    },
  };
}
