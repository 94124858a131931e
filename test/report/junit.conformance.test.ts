import { DOMParser, type Element } from '@xmldom/xmldom';
import { describe, expect, it } from 'vitest';
import { item, waitFor } from '../helpers/engine.js';
import { startTestServer, type SubmittedRun } from '../helpers/server.js';
import { runEnded, startTarget } from '../helpers/target.js';

/**
 * The JUnit report of a real run, read by an independent parser (xmldom, not the fast-xml-parser that writes it)
 * and checked element by element against what Jenkins, GitLab and GitHub test reporters rely on.
 */

interface Report {
  tests: { name: string; status: string; attempts: number; flaky: boolean }[];
}

/** Characters XML 1.0 allows (its `Char` production); anything else makes the file unreadable to every consumer. */
const XML_CHARS = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;
const SECONDS = /^\d+(\.\d+)?$/;
const OUTCOMES = ['failure', 'error', 'skipped'] as const;
const TESTCASE_CHILDREN = new Set(['properties', ...OUTCOMES, 'system-out', 'system-err']);
/** The JUnit outcome element each status must become (none for PASSED). */
const OUTCOME_OF: Record<string, string | undefined> = {
  PASSED: undefined,
  FAILED: 'failure',
  ERROR: 'error',
  TIMEOUT: 'error',
  ABORTED: 'error',
  SKIPPED: 'skipped',
  CANCELLED: 'skipped',
};

const children = (parent: Element, name?: string): Element[] =>
  Array.from(parent.childNodes).filter((n): n is Element => n.nodeType === 1 && (name === undefined || (n as Element).tagName === name));
const count = (el: Element, attr: string): number => {
  const value = el.getAttribute(attr);
  expect(value, `${el.tagName} ${attr}`).toMatch(/^\d+$/);
  return Number(value);
};
const seconds = (el: Element): number => {
  const value = el.getAttribute('time') ?? '';
  expect(value, `${el.tagName} time`).toMatch(SECONDS);
  return Number(value);
};

describe('JUnit report conformance', () => {
  it('a run with passes, failures, errors, skips and a retry is JUnit every common consumer reads', async () => {
    const target = await startTarget();
    const { get } = target;
    const skippedFeature = 'Feature: Wishlist\n  @skip\n  Scenario: Share the list\n    Given the base URL is "http://127.0.0.1:1"\n';
    try {
      await using s = await startTestServer({ EXECUTION_RETRY_DELAY_SECONDS: '0' });
      const alice = await s.client('alice');
      const submitted = await alice.post<SubmittedRun>('/v1/runs', {
        name: 'conformance & <co>',
        items: [
          item('passes', get('/ok')),
          item('fails', get('/bad'), { retry: { maxAttempts: 1 } }),
          item('flaky', get('/flaky'), { retry: { maxAttempts: 2, retryOn: ['FAILED'] } }),
          item('unreachable', [{ action: 'http', request: { method: 'GET', url: 'http://127.0.0.1:1/' } }], { retry: { maxAttempts: 1 } }),
          { name: 'wishlist', type: 'BDD', feature: skippedFeature },
          // Due in an hour: still waiting when the run is cancelled below, so it ends CANCELLED.
          item('later', [{ action: 'noop' }], { scheduledAt: new Date(Date.now() + 3_600_000).toISOString() }),
          item('twice'),
          item('twice'),
          item('colour \u001b[31mred\u001b[0m "quoted" <b>', get('/bad'), { retry: { maxAttempts: 1 } }),
        ],
      });
      expect(submitted.status, submitted.text).toBe(201);
      const runId = submitted.body.id;
      const laterId = submitted.body.executionIds[5];
      await waitFor(async () => {
        const { body } = await alice.get<{ items: { id: string; status: string }[] }>(`/v1/runs/${runId}/executions?limit=100`);
        return body.items.filter((e) => e.id !== laterId).every((e) => ['PASSED', 'FAILED', 'ERROR', 'SKIPPED'].includes(e.status));
      }, 'every execution but the scheduled one to end');
      expect((await alice.post(`/v1/runs/${runId}/cancel`)).status).toBe(202);
      await runEnded(alice, runId);

      const report = (await alice.get<Report>(`/v1/runs/${runId}/report`)).body;
      expect(report.tests.map((t) => t.status)).toEqual(['PASSED', 'FAILED', 'PASSED', 'ERROR', 'SKIPPED', 'CANCELLED', 'PASSED', 'PASSED', 'FAILED']);
      const res = await alice.get(`/v1/runs/${runId}/report?format=junit`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/xml; charset=utf-8');
      const xml = res.text;

      // Well-formed XML 1.0 with its declaration, nothing but allowed characters, parsed without a complaint.
      expect(xml).toMatch(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n/);
      expect(xml).toMatch(XML_CHARS);
      const problems: string[] = [];
      const doc = new DOMParser({ onError: (level, message) => problems.push(`${level}: ${message}`) }).parseFromString(xml, 'text/xml');
      expect(problems).toEqual([]);

      const root = doc.documentElement!;
      expect(root.tagName).toBe('testsuites');
      const suites = children(root);
      expect(suites.length).toBeGreaterThan(0);
      expect(suites.every((el) => el.tagName === 'testsuite')).toBe(true);
      const sums = { tests: 0, failures: 0, errors: 0, skipped: 0, time: 0 };
      const cases: Element[] = [];
      for (const suite of suites) {
        expect(suite.getAttribute('name')).toBe('conformance & <co>');
        const own = children(suite, 'testcase');
        expect(children(suite).filter((el) => el.tagName !== 'testcase' && el.tagName !== 'properties')).toEqual([]);
        const outcome = (name: string) => own.filter((c) => children(c, name).length > 0).length;
        expect(count(suite, 'tests')).toBe(own.length);
        expect(count(suite, 'failures')).toBe(outcome('failure'));
        expect(count(suite, 'errors')).toBe(outcome('error'));
        expect(count(suite, 'skipped')).toBe(outcome('skipped'));
        const time = seconds(suite);
        expect(Math.abs(time - own.reduce((sum, c) => sum + seconds(c), 0))).toBeLessThan(0.0005 * (own.length + 1));
        // Names unique within the suite: consumers key test history by classname + name.
        const names = own.map((c) => c.getAttribute('name'));
        expect(new Set(names).size, names.join(', ')).toBe(names.length);
        for (const [k, v] of Object.entries({ tests: own.length, failures: outcome('failure'), errors: outcome('error'), skipped: outcome('skipped'), time })) {
          sums[k as keyof typeof sums] += v;
        }
        cases.push(...own);
      }
      expect(count(root, 'tests')).toBe(sums.tests);
      expect(count(root, 'failures')).toBe(sums.failures);
      expect(count(root, 'errors')).toBe(sums.errors);
      expect(count(root, 'skipped')).toBe(sums.skipped);
      expect(Math.abs(seconds(root) - sums.time)).toBeLessThan(0.0005 * (suites.length + 1));

      // One testcase per test of the report, in its order, with the outcome element its status calls for.
      expect(cases).toHaveLength(report.tests.length);
      for (const [i, test] of report.tests.entries()) {
        const c = cases[i]!;
        const where = `testcase ${i} (${test.name})`;
        expect(c.getAttribute('name'), where).toMatch(/\S/);
        expect(c.getAttribute('classname'), where).toMatch(/\S/);
        expect(seconds(c), where).toBeGreaterThanOrEqual(0);
        expect(children(c).map((el) => el.tagName).filter((t) => !TESTCASE_CHILDREN.has(t)), where).toEqual([]);
        const outcomes = OUTCOMES.filter((name) => children(c, name).length > 0);
        expect(outcomes.length, where).toBeLessThanOrEqual(1);
        expect(outcomes[0], where).toBe(OUTCOME_OF[test.status]);
        for (const el of [...children(c, 'failure'), ...children(c, 'error')]) {
          expect(el.getAttribute('message'), where).toMatch(/\S/);
          expect(el.getAttribute('type'), where).toBe(test.status);
          expect(el.textContent, where).toMatch(/\S/);
        }
        // Retries are visible: the attempts a retried test made, and its flaky mark, as testcase properties.
        const props = Object.fromEntries(children(c, 'properties').flatMap((p) => children(p, 'property')).map((p) => [p.getAttribute('name'), p.getAttribute('value')]));
        expect(props, where).toEqual(test.attempts > 1 ? { attempts: String(test.attempts), ...(test.flaky ? { flaky: 'true' } : {}) } : {});
      }
      expect(cases[2]!.getAttribute('name')).toBe('flaky');
      expect(report.tests[2]).toMatchObject({ attempts: 2, flaky: true });
      // The same name twice: the second is told apart.
      expect([cases[6]!.getAttribute('name'), cases[7]!.getAttribute('name')]).toEqual(['twice', 'twice (2)']);
      // Text that is not allowed in XML is left out, the rest comes through as it was.
      expect(cases[8]!.getAttribute('name')).toBe('colour [31mred[0m "quoted" <b>');
      expect(children(cases[8]!, 'failure')[0]!.getAttribute('message')).toContain('expected status 200, got 500');
    } finally {
      await target[Symbol.asyncDispose]();
    }
  });
});
