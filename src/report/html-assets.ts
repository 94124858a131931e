/**
 * The HTML report's inline style and script. Both are fixed text (the page's data lives in its markup), so the
 * page's Content-Security-Policy names them by hash and nothing else may run or load.
 */

export const REPORT_CSS = `
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #6e7781; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1100px; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 10px; }
.meta { color: var(--muted); margin: 0 0 4px; }
.label { display: inline-block; border: 1px solid var(--line); border-radius: 10px; padding: 0 8px; margin: 2px 4px 2px 0; font-size: 12px; }
.status { font-weight: 600; }
.status-PASSED { color: var(--ok); }
.status-FAILED, .status-ERROR, .status-TIMEOUT, .status-ABORTED { color: var(--bad); }
.status-SKIPPED, .status-CANCELLED { color: var(--muted); }
.summary { display: flex; flex-wrap: wrap; gap: 8px; margin: 16px 0; padding: 0; }
.summary div { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; min-width: 90px; }
.summary dt { font-size: 12px; color: var(--muted); }
.summary dd { margin: 0; font-size: 20px; font-weight: 600; }
.filters { display: flex; gap: 6px; margin: 8px 0 12px; }
.filters button { font: inherit; padding: 4px 12px; border: 1px solid var(--line); border-radius: 6px; background: transparent; color: inherit; cursor: pointer; }
.filters button[aria-pressed="true"] { background: #0969da; border-color: #0969da; color: #fff; }
.tests { list-style: none; margin: 0; padding: 0; }
.test { border: 1px solid var(--line); border-left: 4px solid var(--muted); border-radius: 6px; padding: 8px 12px; margin: 0 0 8px; }
.test[data-group~="failed"] { border-left-color: var(--bad); }
.test[data-group~="passed"] { border-left-color: var(--ok); }
.test h3 { font-size: 15px; margin: 0; overflow-wrap: anywhere; }
.test .facts { color: var(--muted); font-size: 12px; margin: 2px 0 0; }
.flaky { color: var(--warn); font-weight: 600; }
.message { margin: 6px 0 0; font-weight: 600; overflow-wrap: anywhere; }
pre { background: rgba(127, 127, 127, 0.1); padding: 8px; border-radius: 4px; overflow: auto; max-height: 400px; white-space: pre-wrap; overflow-wrap: anywhere; }
.comparison ul { margin: 4px 0 12px; }
.empty { color: var(--muted); }
`;

/**
 * The status filter: a button per group; a test shows when its `data-group` holds the chosen one (`all` shows
 * every test). Written for the browsers a CI artifact is opened in, with no build step.
 */
export const REPORT_JS = `
(function () {
  var buttons = document.querySelectorAll('.filters button');
  var tests = document.querySelectorAll('.tests > li');
  var empty = document.querySelector('.tests-empty');
  function choose(group) {
    var shown = 0;
    tests.forEach(function (t) {
      var show = group === 'all' || (' ' + t.getAttribute('data-group') + ' ').indexOf(' ' + group + ' ') >= 0;
      t.hidden = !show;
      if (show) shown++;
    });
    buttons.forEach(function (b) { b.setAttribute('aria-pressed', String(b.getAttribute('data-filter') === group)); });
    if (empty) empty.hidden = shown > 0;
  }
  buttons.forEach(function (b) {
    b.addEventListener('click', function () { choose(b.getAttribute('data-filter')); });
  });
})();
`;
