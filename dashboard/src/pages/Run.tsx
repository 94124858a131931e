import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { all, api, download } from '../api.js';
import { debounce } from '../components/debounce.js';
import { ExecutionDetails } from '../components/ExecutionDetails.js';
import { StackedBar, duration } from '../components/StackedBar.js';
import { useVirtual } from '../components/useVirtual.js';
import { live, liveState } from '../live.js';
import { FAILING, TERMINAL, type Execution, type LiveEvent, type Run } from '../types.js';

const ROW = 40;

/** Failures first, then in item order (ids are time-ordered). */
function ordered(executions: Map<string, Execution>): Execution[] {
  const list = [...executions.values()];
  return [...list.filter((e) => FAILING.has(e.status)), ...list.filter((e) => !FAILING.has(e.status))];
}

/**
 * A run and every execution of it, live through `run:<id>`: the topic is subscribed first, then the state is read
 * over REST, and the events that came meanwhile are applied on top (in cursor order, so the last one wins).
 */
export function RunPage({ runId }: { runId: string }) {
  const [run, setRun] = useState<Run | null>(null);
  const executions = useRef(new Map<string, Execution>());
  const [version, setVersion] = useState(0);
  const [open, setOpen] = useState<string | null>(null);
  // Read by the event handler, which is made once: the open execution's steps are the only ones reloaded.
  const openRef = useRef<string | null>(null);
  openRef.current = open;
  const [stepsVersion, setStepsVersion] = useState(0);
  const runStatus = useRef<string | null>(null);
  runStatus.current = run?.status ?? null;
  const [message, setMessage] = useState<string | null>(null);
  const scroller = useRef<HTMLDivElement>(null);

  const state = useMemo(() => {
    let loaded = false;
    /** Events that came while a load was reading; those before it started are in what it reads. */
    let buffered: LiveEvent[] = [];
    /** A load that failed (a 429, a dropped request) is tried again, later each time, until the page is left. */
    let retryMs = 1000;
    let retryTimer: ReturnType<typeof setTimeout> | null = null;
    let disposed = false;
    /** The newest load: an older one that finishes later is dropped, not applied over it. */
    let generation = 0;
    /** Executions in a terminal status, kept as events arrive (no scan of 10,000 rows a frame). */
    let finished = 0;
    const apply = (events: LiveEvent[]) => {
      let runMoved = false;
      let stepsMoved = false;
      let ended = 0;
      for (const e of events) {
        if (e.type === 'step') {
          if (e.executionId === openRef.current) stepsMoved = true;
          continue;
        }
        const current = executions.current.get(e.executionId);
        if (current) {
          ended += Number(TERMINAL.has(e.to)) - Number(TERMINAL.has(current.status));
          executions.current.set(e.executionId, { ...current, status: e.to, attempt: e.attempt });
        }
        if (e.to === 'RUNNING' && runStatus.current === 'PENDING') runMoved = true;
      }
      // The run's own status moves when its first execution starts and when its last one ends.
      if (ended !== 0) {
        finished += ended;
        if (finished === executions.current.size) runMoved = true;
      }
      setVersion((v) => v + 1);
      if (stepsMoved) setStepsVersion((v) => v + 1);
      if (runMoved) refreshRun();
    };
    // The run's status is stored just after its last execution's: read while every execution has ended but the run
    // still shows unfinished, it is read again a moment later (no event will come to say so).
    const loadRun = (): Promise<void> =>
      api<Run>('GET', `/v1/runs/${encodeURIComponent(runId)}`).then((r) => {
        setRun(r);
        if ((r.status === 'PENDING' || r.status === 'RUNNING') && loaded && finished > 0 && finished === executions.current.size) refreshLater();
      }, (err: Error) => setMessage(err.message));
    const refreshRun = debounce(() => void loadRun(), 300);
    const refreshLater = debounce(() => void loadRun(), 1000);
    const load = async (mine: number) => {
      loaded = false;
      buffered = [];
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = null;
      await loadRun();
      const list = await all<Execution>(`/v1/runs/${encodeURIComponent(runId)}/executions`);
      if (mine !== generation) return;
      executions.current = new Map(list.reverse().map((e) => [e.id, e]));
      finished = list.filter((e) => TERMINAL.has(e.status)).length;
      loaded = true;
      const pending = buffered;
      buffered = [];
      apply(pending);
      retryMs = 1000;
      if (finished > 0 && finished === executions.current.size) refreshRun();
    };
    /** A load is reading (a large run takes many pages): the poll does not start another over it. */
    let loading = false;
    const start = (): void => {
      if (disposed) return;
      const mine = ++generation;
      loading = true;
      void load(mine)
        .catch((err: Error) => {
          setMessage(err.message);
          if (disposed || mine !== generation) return;
          retryTimer = setTimeout(() => {
            retryTimer = null;
            start();
          }, retryMs);
          retryMs = Math.min(retryMs * 2, 30_000);
        })
        .finally(() => {
          if (mine === generation) loading = false;
        });
    };
    return {
      load: start,
      /** The topic was refused, or the live channel cannot be reached: show why, and show the run as it stands. */
      refused: (reason: string) => {
        setMessage(`live updates unavailable: ${reason}`);
        start();
      },
      /** While the live channel is down, an unfinished run is read again now and then (not over a load or a retry). */
      poll: () => {
        if (liveState.value === 'live' || document.hidden || loading || retryTimer !== null) return;
        if (runStatus.current === 'PENDING' || runStatus.current === 'RUNNING') start();
      },
      dispose: () => {
        disposed = true;
        if (retryTimer) clearTimeout(retryTimer);
      },
      onEvents: (events: LiveEvent[]) => {
        if (loaded) apply(events);
        else buffered.push(...events);
      },
    };
  }, [runId]);

  useEffect(() => {
    const unlisten = live.listen({
      topics: [`run:${runId}`],
      onEvents: state.onEvents,
      onSubscribed: state.load,
      onReset: state.load,
      onError: state.refused,
    });
    const timer = setInterval(state.poll, 10_000);
    return () => {
      unlisten();
      clearInterval(timer);
      state.dispose();
    };
  }, [state, runId]);

  const rows = useMemo(() => ordered(executions.current), [version]);
  const virtual = useVirtual(rows.length, scroller, ROW, (i) => rows[i]?.id ?? i);
  // Rows change places only when an execution starts or stops failing: then the sizes are placed again.
  const failing = rows.findIndex((e) => !FAILING.has(e.status));
  useEffect(() => virtual.measure(), [failing, virtual]);
  const counts: Record<string, number> = {};
  for (const e of rows) counts[e.status] = (counts[e.status] ?? 0) + 1;
  const active = run !== null && (run.status === 'PENDING' || run.status === 'RUNNING');
  const act = (work: Promise<unknown>, done: string) => void work.then(() => setMessage(done), (err: Error) => setMessage(err.message));
  // A retry creates an execution: one request per button until it is answered.
  const [retrying, setRetrying] = useState<ReadonlySet<string>>(new Set());
  const inFlight = useRef(new Set<string>());
  const retry = (e: Execution) => {
    if (inFlight.current.has(e.id)) return;
    inFlight.current.add(e.id);
    setRetrying((s) => new Set(s).add(e.id));
    void api<{ id: string }>('POST', `/v1/executions/${encodeURIComponent(e.id)}/retry`)
      .then((r) => setMessage(`${e.name} retried as ${r.id}`), (err: Error) => setMessage(err.message))
      .finally(() => {
        inFlight.current.delete(e.id);
        setRetrying((s) => {
          const next = new Set(s);
          next.delete(e.id);
          return next;
        });
      });
  };
  const report = (format: string, ext: string) => act(download(`/v1/runs/${encodeURIComponent(runId)}/report?format=${format}`, `${runId}.${ext}`), `${format} report downloaded`);

  return (
    <section>
      <p>
        <a href="#/runs">← Runs</a>
      </p>
      <h1>{run?.name ?? runId}</h1>
      {run && (
        <div class="run-head">
          <span class={`status s-${run.status}`} data-run-status>
            {run.status}
          </span>
          <StackedBar counts={counts} total={run.total} />
          <span class="facts">
            {rows.length} of {run.total} executions · {duration(Date.parse(active ? new Date().toISOString() : run.updatedAt) - Date.parse(run.createdAt))}
            {Object.entries(run.labels).map(([k, v]) => ` · ${k}=${v}`)}
          </span>
        </div>
      )}
      <div class="actions">
        <button type="button" onClick={() => report('json', 'json')}>JSON report</button>
        <button type="button" onClick={() => report('junit', 'xml')}>JUnit report</button>
        <button type="button" onClick={() => report('html', 'html')}>HTML report</button>
        {active && (
          <button type="button" onClick={() => act(api('POST', `/v1/runs/${encodeURIComponent(runId)}/cancel`), 'cancelling the run')}>
            Cancel run
          </button>
        )}
      </div>
      {message && <p role="status" class="message">{message}</p>}
      <div class="executions" ref={scroller} role="list" aria-label="Executions">
        <div style={{ height: `${virtual.getTotalSize()}px`, position: 'relative' }}>
          {virtual.getVirtualItems().map((v) => {
            const e = rows[v.index] as Execution;
            return (
              <div key={e.id} role="listitem" aria-setsize={rows.length} aria-posinset={v.index + 1} class="execution" data-execution-id={e.id} data-index={v.index} ref={virtual.measureElement} style={{ transform: `translateY(${v.start}px)` }}>
                <div class="execution-line">
                  <button type="button" class="link" aria-expanded={open === e.id} onClick={() => setOpen(open === e.id ? null : e.id)}>
                    {e.name}
                  </button>
                  <span class={`status s-${e.status}`} data-status>
                    {e.status}
                  </span>
                  <span class="facts">attempt {e.attempt} of {e.maxAttempts}</span>
                  {TERMINAL.has(e.status) && (
                    <button type="button" aria-label={`Retry ${e.name}`} disabled={retrying.has(e.id)} onClick={() => retry(e)}>
                      Retry
                    </button>
                  )}
                </div>
                {open === e.id && <ExecutionDetails execution={e} version={stepsVersion} />}
              </div>
            );
          })}
        </div>
      </div>
    </section>
  );
}
