import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, me } from '../api.js';
import { afterQuiet, debounce } from '../components/debounce.js';
import { StackedBar, duration } from '../components/StackedBar.js';
import { live } from '../live.js';
import { RUN_STATUSES, TERMINAL, type Run } from '../types.js';

const ACTIVE = new Set(['PENDING', 'RUNNING']);

/** Every execution of the run has ended (by its counts). */
const ended = (run: Run): boolean => Object.entries(run.counts).reduce((n, [s, c]) => n + (TERMINAL.has(s) ? c : 0), 0) >= run.total;

/** The newest runs, live: counts move with every transition, the list is reloaded as runs start and end. */
export function RunsPage() {
  const [runs, setRuns] = useState<Run[]>([]);
  // The list as last rendered, for the event handler (made once per filter).
  const shown = useRef(runs);
  shown.current = runs;
  const [status, setStatus] = useState('');
  const [label, setLabel] = useState('');
  const [error, setError] = useState<string | null>(null);

  // Only the newest request's answer is shown (one started before a filter change may come back after it).
  const sent = useRef(0);
  const filter = useRef(status);
  filter.current = status;
  const reload = useMemo(() => {
    /** Runs not in the list that an event already made it read again: their other events do not (a filter hides them). */
    const unlisted = new Set<string>();
    const load = () => {
      // A reload timer set before the filter changed reads nothing.
      if (filter.current !== status) return Promise.resolve();
      const mine = ++sent.current;
      return api<{ items: Run[] }>('GET', `/v1/runs?limit=100${status ? `&status=${status}` : ''}`).then(
        (page) => {
          if (mine !== sent.current) return;
          setRuns(page.items);
          setError(null);
          // A run whose executions have all ended has its own status stored a moment later: read again then.
          if (page.items.some((r) => (r.status === 'PENDING' || r.status === 'RUNNING') && r.total > 0 && ended(r))) later();
        },
        (err: Error) => setError(err.message),
      );
    };
    const later = debounce(() => void load(), 1000);
    /** True the first time an event names a run the list does not hold (a new run, or one the filter hides). */
    const firstSeen = (runId: string): boolean => {
      if (unlisted.has(runId)) return false;
      unlisted.add(runId);
      return true;
    };
    // An unlisted run whose executions end may have ended (and now pass the filter): read once they stop ending.
    return { now: load, soon: debounce(() => void load(), 500), firstSeen, settled: afterQuiet(() => void load(), 2000) };
  }, [status]);

  useEffect(() => {
    void reload.now();
    // Other users' runs (an admin sees them) have no live topic of ours: a slow refresh picks them up.
    const timer = setInterval(() => {
      if (!document.hidden) void reload.now();
    }, 15_000);
    return () => clearInterval(timer);
  }, [reload]);

  useEffect(
    () =>
      live.listen({
        topics: [`user:${me.value?.id ?? ''}`],
        onEvents: (events) => {
          // Counts move here; a new run, and a run that starts or ends (its status), are read from the server.
          let moved = false;
          const current = shown.current;
          {
            const byId = new Map(current.map((r) => [r.id, { ...r, counts: { ...r.counts } }]));
            for (const e of events) {
              if (e.type !== 'transition' || !e.runId) continue;
              const run = byId.get(e.runId);
              if (!run) {
                // Read once when it first shows up, and once its executions have stopped ending for a moment (it may
                // have ended, and a filter may now show it): not at every event of a run the filter hides.
                if (reload.firstSeen(e.runId)) moved = true;
                if (TERMINAL.has(e.to)) reload.settled();
                continue;
              }
              if (e.from) run.counts[e.from] = Math.max(0, (run.counts[e.from] ?? 0) - 1);
              run.counts[e.to] = (run.counts[e.to] ?? 0) + 1;
              if ((run.status === 'PENDING' && e.to === 'RUNNING') || (ended(run) && (run.status === 'PENDING' || run.status === 'RUNNING'))) moved = true;
            }
            const next = current.map((r) => byId.get(r.id) as Run);
            shown.current = next;
            setRuns(next);
          }
          if (moved) reload.soon();
        },
        onReset: () => void reload.now(),
      }),
    [reload],
  );

  const at = label.indexOf('=');
  const [key, value] = at >= 0 ? [label.slice(0, at), label.slice(at + 1)] : [label, undefined];
  const visible = runs.filter((r) => !key || (value === undefined ? key in r.labels : r.labels[key] === value));
  const cancel = (id: string) => void api('POST', `/v1/runs/${encodeURIComponent(id)}/cancel`).then(() => reload.now(), (err: Error) => setError(err.message));

  return (
    <section>
      <h1>Runs</h1>
      <div class="filters">
        <label>
          Status
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">all</option>
            {RUN_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Label filter
          <input type="search" placeholder="branch=main" value={label} onInput={(e) => setLabel(e.currentTarget.value)} />
        </label>
      </div>
      {error && <p role="alert" class="error">{error}</p>}
      {visible.length === 0 ? (
        <p class="empty">No runs{status || label ? ' match the filters' : ' yet'}.</p>
      ) : (
        <ul class="runs">
          {visible.map((r) => (
            <li key={r.id} class="run-row" data-run-id={r.id}>
              <a href={`#/runs/${encodeURIComponent(r.id)}`}>{r.name}</a>
              <span class={`status s-${r.status}`} data-status>
                {r.status}
              </span>
              <StackedBar counts={r.counts} total={r.total} />
              <span class="facts">
                {r.total} tests · {duration(Date.parse(ACTIVE.has(r.status) ? new Date().toISOString() : r.updatedAt) - Date.parse(r.createdAt))}
                {r.labels.branch ? ` · ${r.labels.branch}` : ''}
                {r.labels.commit ? ` @ ${r.labels.commit.slice(0, 8)}` : ''}
              </span>
              {ACTIVE.has(r.status) && (
                <button type="button" aria-label={`Cancel run ${r.name}`} onClick={() => cancel(r.id)}>
                  Cancel run
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
