import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { item } from '../helpers/engine.js';
import { expectError, missingId, startTestServer, type RunView, type SubmittedRun } from '../helpers/server.js';
import { runEnded, startTarget } from '../helpers/target.js';

/** GET /v1/runs/:id/report (SPEC §8): the JSON report and its JUnit form, from one model. */

interface Report {
  run: RunView;
  summary: Record<string, number>;
  tests: { name: string; executionId: string; status: string; attempts: number; durationMs: number; flaky: boolean; failure?: { message: string; step?: string } }[];
}

describe('GET /v1/runs/:id/report', () => {
  it('reports every test with its outcome, attempts, flaky mark and failure; JUnit carries the same tests', async () => {
    // A target: /ok answers 200, /bad 500, /flaky 500 the first time and 200 after.
    const target = await startTarget();
    const { get } = target;
    try {
      await using s = await startTestServer({ EXECUTION_RETRY_DELAY_SECONDS: '0' });
      const alice = await s.client('alice');
      const submitted = await alice.post<SubmittedRun>('/v1/runs', {
        name: 'nightly',
        labels: { repository: 'acme/shop' },
        items: [
          item('passes', get('/ok')),
          item('fails', get('/bad')),
          item('flaky', get('/flaky'), { retry: { maxAttempts: 2, retryOn: ['FAILED'] } }),
          item('unreachable', [{ action: 'http', request: { method: 'GET', url: 'http://127.0.0.1:1/' } }], { retry: { maxAttempts: 1 } }),
        ],
      });
      expect(submitted.status, submitted.text).toBe(201);
      const runId = submitted.body.id;
      await runEnded(alice, runId);

      const res = await alice.get<Report>(`/v1/runs/${runId}/report`);
      expect(res.status, res.text).toBe(200);
      const report = res.body;
      expect(report.run).toMatchObject({ id: runId, name: 'nightly', status: 'FAILED', labels: { repository: 'acme/shop' } });
      expect(report.tests.map((t) => [t.name, t.status, t.attempts, t.flaky])).toEqual([
        ['passes', 'PASSED', 1, false],
        ['fails', 'FAILED', 1, false],
        ['flaky', 'PASSED', 2, true],
        ['unreachable', 'ERROR', 1, false],
      ]);
      expect(report.tests.map((t) => t.executionId)).toEqual(submitted.body.executionIds);
      const byName = Object.fromEntries(report.tests.map((t) => [t.name, t]));
      expect(byName.fails?.failure?.step).toBe('GET /bad');
      expect(byName.fails?.failure?.message).toContain('expected status 200, got 500');
      expect(byName.passes).not.toHaveProperty('failure');
      expect(report.summary).toMatchObject({ total: 4, passed: 2, failed: 1, errors: 1, skipped: 0, retried: 1, flaky: 1 });
      expect(report.summary.durationMs).toBeGreaterThan(0);
      // ?format=json is the default.
      expect((await alice.get<Report>(`/v1/runs/${runId}/report?format=json`)).body).toEqual(report);

      const junit = await alice.get(`/v1/runs/${runId}/report?format=junit`);
      expect(junit.status).toBe(200);
      expect(junit.headers.get('content-type')).toBe('application/xml; charset=utf-8');
      const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(junit.text) as {
        testsuites: { testsuite: { tests: string; failures: string; errors: string; testcase: { name: string; failure?: unknown; error?: unknown }[] } };
      };
      const suite = xml.testsuites.testsuite;
      expect(suite).toMatchObject({ tests: '4', failures: '1', errors: '1' });
      expect(suite.testcase.map((c) => c.name)).toEqual(['passes', 'fails', 'flaky', 'unreachable']);
      expect(suite.testcase[1]).toHaveProperty('failure');
      expect(suite.testcase[3]).toHaveProperty('error');

      // The same report as one HTML page, failures first.
      const page = await alice.get(`/v1/runs/${runId}/report?format=html`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(page.text).toMatch(/^<!DOCTYPE html>/);
      const order = [...page.text.matchAll(/<li class="test"[^>]*>\s*<h3>.*?<\/span> (\w+)/g)].map((m) => m[1]);
      expect(order).toEqual(['fails', 'unreachable', 'passes', 'flaky']);
      expect(page.text).toContain('expected status 200, got 500');
    } finally {
      await target[Symbol.asyncDispose]();
    }
  });

  it('is the owner’s (another user gets 404), takes only format=json|junit|html, and answers 404 for an unknown run', async () => {
    await using s = await startTestServer();
    const alice = await s.client('alice');
    const bob = await s.client('bob');
    const submitted = await alice.post<SubmittedRun>('/v1/runs', { items: [item('one')] });
    const runId = submitted.body.id;
    await runEnded(alice, runId);
    expectError(await bob.get(`/v1/runs/${runId}/report`), 404, 'NOT_FOUND');
    expectError(await alice.get(`/v1/runs/${missingId('run')}/report`), 404, 'NOT_FOUND');
    const html = await alice.get(`/v1/runs/${runId}/report?format=pdf`);
    expectError(html, 400, 'VALIDATION_FAILED');
    expect(html.text).toContain('must be one of json, junit, html');
    expectError(await alice.get(`/v1/runs/${runId}/report?limit=5`), 400, 'VALIDATION_FAILED');
    const admin = await s.client('root', ['admin']);
    expect((await admin.get(`/v1/runs/${runId}/report`)).status).toBe(200);
  });
});
