import { isFailing } from '../core/series.js';
import { REPORT_CSS, REPORT_JS } from './html-assets.js';
import { cspHash, formatDuration, html, Html } from './html-kit.js';
import type { ReportTest, RunComparison, RunReport } from './run-report.js';

/** What the page shows of the run (the API's run view has these and more). */
export interface HtmlRun {
  id: string;
  name?: string;
  status: string;
  labels?: Record<string, string>;
}

const SKIPS = new Set(['SKIPPED', 'CANCELLED']);

/** The filter buttons: accessible name → the group its tests carry in `data-group`. */
const FILTERS = [
  ['All', 'all'],
  ['Failed', 'failed'],
  ['Passed', 'passed'],
  ['Skipped', 'skipped'],
  ['Flaky', 'flaky'],
] as const;

// The policy allows exactly the inline style and script below: no other script, and no request for anything.
const CSP = `default-src 'none'; style-src ${cspHash(REPORT_CSS)}; script-src ${cspHash(REPORT_JS)}; base-uri 'none'; form-action 'none'`;

/** The filter groups a test belongs to. */
function groupsOf(t: ReportTest): string {
  const group = isFailing(t.status) ? 'failed' : SKIPS.has(t.status) ? 'skipped' : t.status === 'PASSED' ? 'passed' : 'other';
  return t.flaky ? `${group} flaky` : group;
}

function testItem(t: ReportTest): Html {
  const attempts = t.attempts > 1 ? `${t.attempts} attempts` : '1 attempt';
  const failing = isFailing(t.status);
  return html`<li class="test" data-group="${groupsOf(t)}" data-status="${t.status}">
<h3><span class="status status-${t.status}">${t.status}</span> ${t.name}${t.flaky ? html` <span class="flaky">flaky</span>` : ''}</h3>
<p class="facts">${formatDuration(t.durationMs)} · ${attempts}${t.flaky ? ' · failed, then passed on a retry' : ''}</p>
${t.failure ? html`<p class="message">${t.failure.message}</p>` : ''}
${t.failure?.step ? html`<p class="facts">Failed at step: <strong>${t.failure.step}</strong></p>` : ''}
${t.output ? (failing ? html`<pre>${t.output}</pre>` : html`<details><summary>Output</summary><pre>${t.output}</pre></details>`) : ''}
</li>`;
}

function comparisonSection(c: RunComparison): Html {
  const list = (title: string, names: string[]) =>
    names.length === 0 ? '' : html`<h3>${title} (${names.length})</h3><ul>${names.map((n) => html`<li>${n}</li>`)}</ul>`;
  const slower =
    c.slower.length === 0
      ? ''
      : html`<h3>Slower (${c.slower.length})</h3><ul>${c.slower.map((s) => html`<li>${s.name}: ${s.baseMs} ms → ${s.ms} ms</li>`)}</ul>`;
  const lists = [
    list('New failures', c.newFailures),
    list('Fixed', c.fixed),
    list('Still failing', c.stillFailing),
    list('Flaky', c.flaky),
    list('Added', c.added),
    list('Removed', c.removed),
    slower,
  ];
  const changed = lists.some((l) => l !== '');
  return html`<section class="comparison" aria-labelledby="comparison"><h2 id="comparison">Compared with run ${c.baseRunId}</h2>
${changed ? lists : html`<p class="empty">No change.</p>`}</section>`;
}

/** Failures first (FAILED, ERROR, TIMEOUT, ABORTED), then the rest; each part keeps the report's order. */
function ordered(tests: ReportTest[]): ReportTest[] {
  return [...tests.filter((t) => isFailing(t.status)), ...tests.filter((t) => !isFailing(t.status))];
}

/**
 * A run's report as one self-contained HTML page (SPEC §8): inline style and script only, no request to any
 * other URL, so it opens from a file (a CI artifact) with no network. Every text is escaped.
 */
export function toHtmlReport(report: RunReport<HtmlRun>): string {
  const { run, summary: s, tests } = report;
  const title = run.name || run.id;
  const labels = Object.entries(run.labels ?? {});
  const stats: [string, string | number][] = [
    ['Total', s.total],
    ['Passed', s.passed],
    ['Failed', s.failed],
    ['Errors', s.errors],
    ['Skipped', s.skipped],
    ['Retried', s.retried],
    ['Flaky', s.flaky],
    ['Duration', formatDuration(s.durationMs)],
  ];
  const page = html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} — ${run.status} — Troupe report</title>
<style>${new Html(REPORT_CSS)}</style>
</head>
<body>
<header>
<h1>${title} <span class="status status-${run.status}">${run.status}</span></h1>
<p class="meta">Run <code>${run.id}</code></p>
${labels.length ? html`<p class="meta">${labels.map(([k, v]) => html`<span class="label">${k}=${v}</span>`)}</p>` : ''}
</header>
<dl class="summary">${stats.map(([k, v]) => html`<div data-stat="${k.toLowerCase()}"><dt>${k}</dt><dd>${v}</dd></div>`)}</dl>
${report.comparison ? comparisonSection(report.comparison) : ''}
<h2>Tests</h2>
<div class="filters" role="group" aria-label="Show tests">${FILTERS.map(
    ([name, group]) => html`<button type="button" data-filter="${group}" aria-pressed="${String(group === 'all')}">${name}</button>`,
  )}</div>
<ol class="tests">${ordered(tests).map(testItem)}</ol>
<p class="empty tests-empty"${tests.length ? html` hidden` : ''}>No tests to show.</p>
<script>${new Html(REPORT_JS)}</script>
</body>
</html>
`;
  return page.value;
}
