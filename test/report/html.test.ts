import { DOMParser } from '@xmldom/xmldom';
import { describe, expect, it } from 'vitest';
import { toHtmlReport, type HtmlRun } from '../../src/report/html.js';
import { runReport, type ReportTest, type RunComparison, type RunReport } from '../../src/report/run-report.js';

/** The HTML report (SPEC §8): one self-contained page, failures first, every text escaped. */

const test = (name: string, status: ReportTest['status'], extra: Partial<ReportTest> = {}): ReportTest => ({
  name,
  status,
  executionId: `exe_${name.length}`,
  attempts: 1,
  flaky: false,
  durationMs: 120,
  reason: null,
  ...extra,
});

const RUN: HtmlRun = { id: 'run_1', name: 'nightly', status: 'FAILED', labels: { repository: 'acme/shop', branch: 'main' } };

function report(tests: ReportTest[], comparison?: RunComparison): RunReport<HtmlRun> {
  const r = runReport(RUN, { createdAt: 0, finishedAt: 2500 }, tests);
  return comparison ? { ...r, comparison } : r;
}

/** The page's text with the markup taken out, whitespace collapsed (what a reader sees, filters aside). */
function text(page: string): string {
  return page.replace(/<style>[\s\S]*?<\/style>|<script>[\s\S]*?<\/script>/g, '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
}

describe('toHtmlReport', () => {
  const tests = [
    test('passes', 'PASSED'),
    test('flaky', 'PASSED', { attempts: 2, flaky: true }),
    test('skipped', 'CANCELLED'),
    test('broken', 'FAILED', { failure: { message: 'expected status 200, got 500', step: 'GET /bad' }, output: '[FAILED] GET /bad: expected status 200, got 500' }),
    test('unreachable', 'ERROR', { failure: { message: 'connect ECONNREFUSED' } }),
  ];

  it('shows the run, its labels and the summary counts', () => {
    const page = text(toHtmlReport(report(tests)));
    expect(page).toContain('nightly FAILED');
    expect(page).toContain('Run run_1');
    expect(page).toContain('repository=acme/shop');
    for (const stat of ['Total 5', 'Passed 2', 'Failed 1', 'Errors 1', 'Skipped 1', 'Retried 1', 'Flaky 1', 'Duration 2.50 s']) expect(page).toContain(stat);
  });

  it('lists failures first, each with its message, step and output; retries and flaky marks show', () => {
    const page = toHtmlReport(report(tests));
    const order = [...page.matchAll(/<li class="test" data-group="([^"]+)" data-status="(\w+)">\s*<h3>.*?<\/span> (\w+)/g)].map((m) => [m[3], m[1]]);
    expect(order).toEqual([
      ['broken', 'failed'],
      ['unreachable', 'failed'],
      ['passes', 'passed'],
      ['flaky', 'passed flaky'],
      ['skipped', 'skipped'],
    ]);
    const shown = text(page);
    expect(shown).toContain('expected status 200, got 500 Failed at step: GET /bad');
    expect(page).toContain('<pre>[FAILED] GET /bad: expected status 200, got 500</pre>');
    expect(shown).toContain('flaky flaky 120 ms · 2 attempts · failed, then passed on a retry');
  });

  it('offers the status filters by name', () => {
    const buttons = [...toHtmlReport(report(tests)).matchAll(/<button type="button" data-filter="(\w+)" aria-pressed="(\w+)">(\w+)<\/button>/g)];
    expect(buttons.map((b) => [b[3], b[1], b[2]])).toEqual([
      ['All', 'all', 'true'],
      ['Failed', 'failed', 'false'],
      ['Passed', 'passed', 'false'],
      ['Skipped', 'skipped', 'false'],
      ['Flaky', 'flaky', 'false'],
    ]);
  });

  it('escapes every text: a test name, a message, output, labels and run name cannot become markup', () => {
    const evil = '<script>alert(1)</script>';
    const page = toHtmlReport({
      ...report([test(evil, 'FAILED', { failure: { message: '</pre><img src=x>', step: '"><b>' }, output: '</pre><img src=x onerror=alert(1)>' })]),
      run: { id: 'run_"x', name: '<i>run</i>', status: 'FAILED', labels: { '<k>': '"&v' } },
    });
    expect(page).not.toContain(evil);
    expect(page).not.toContain('<img');
    expect(page).not.toContain('<b>');
    expect(page).not.toContain('<i>run');
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).toContain('&lt;/pre&gt;&lt;img src=x&gt;');
    expect(page).toContain('&lt;k&gt;=&quot;&amp;v');
    // Exactly one script element: ours.
    expect(page.match(/<script/g)).toHaveLength(1);
  });

  it('is self-contained: no URL to load, and a policy that forbids loading anything', () => {
    const page = toHtmlReport(report(tests));
    expect(page).not.toMatch(/\b(src|href|action|poster|srcset)\s*=/i);
    expect(page).not.toMatch(/url\(|@import|https?:\/\//i);
    // The markup parses as a document whose one stylesheet and one script are inline, and only they may apply.
    const doc = new DOMParser().parseFromString(page, 'text/html');
    const csp = doc.getElementsByTagName('meta')[1]?.getAttribute('content');
    expect(csp).toMatch(/^default-src 'none'; style-src 'sha256-[\w+/=]+'; script-src 'sha256-[\w+/=]+';/);
    expect(doc.getElementsByTagName('script')).toHaveLength(1);
    expect(doc.getElementsByTagName('link')).toHaveLength(0);
  });

  it('shows the comparison with the base run, only the lists that have names', () => {
    const comparison: RunComparison = {
      baseRunId: 'run_0',
      newFailures: ['broken'],
      fixed: ['<em>x</em>'],
      stillFailing: [],
      flaky: ['flaky'],
      added: ['unreachable'],
      removed: [],
      slower: [{ name: 'passes', baseMs: 40, ms: 120 }],
    };
    const shown = text(toHtmlReport(report(tests, comparison)));
    expect(shown).toContain('Compared with run run_0');
    expect(shown).toContain('New failures (1) broken');
    expect(shown).toContain('Fixed (1) &lt;em&gt;x&lt;/em&gt;');
    expect(shown).toContain('Flaky (1) flaky');
    expect(shown).toContain('Added (1) unreachable');
    expect(shown).toContain('Slower (1) passes: 40 ms → 120 ms');
    expect(shown).not.toContain('Still failing');
    expect(shown).not.toContain('Removed');
    expect(text(toHtmlReport(report(tests)))).not.toContain('Compared with');
  });
});
