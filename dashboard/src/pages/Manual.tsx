import { useEffect, useMemo, useState } from 'preact/hooks';
import { all, api, me } from '../api.js';
import { debounce } from '../components/debounce.js';
import { live } from '../live.js';
import type { Execution } from '../types.js';

/** The step a PAUSED MANUAL execution waits on: its reason says `awaiting the verdict for step <n>: …`. */
function awaitedStep(reason: string | null): number | null {
  const n = /awaiting the verdict for step (\d+)/.exec(reason ?? '')?.[1];
  return n === undefined ? null : Number(n);
}

interface Paused {
  execution: Execution;
  step: number;
}

/** The signed-in tester's paused MANUAL executions, each at its current step; a verdict moves it on in place. */
export function ManualPage() {
  const [paused, setPaused] = useState<Paused[]>([]);
  const [error, setError] = useState<string | null>(null);

  const reload = useMemo(() => {
    // Only the newest read's answer is shown: an older one that comes back later would bring back a stale step.
    let sent = 0;
    const load = async () => {
      const mine = ++sent;
      try {
        const list = (await all<Execution>(`/v1/executions?status=PAUSED&owner=${encodeURIComponent(me.value?.id ?? '')}`)).filter((e) => e.type === 'MANUAL');
        const withSteps = await Promise.all(
          list.map(async (execution): Promise<Paused | null> => {
            const events = await all<{ to: string; reason: string | null }>(`/v1/executions/${execution.id}/events`);
            const last = [...events].reverse().find((ev) => ev.to === 'PAUSED');
            const step = awaitedStep(last?.reason ?? null);
            return step === null ? null : { execution, step };
          }),
        );
        if (mine !== sent) return;
        setPaused(withSteps.filter((p): p is Paused => p !== null).reverse());
        setError(null);
      } catch (err) {
        if (mine === sent) setError((err as Error).message);
      }
    };
    const now = () => void load();
    return { now, soon: debounce(now, 150) };
  }, []);

  // Read once the topic is live (a pause from then on comes as an event), or at once when the live channel cannot
  // be reached; and now and then besides, so that nothing is missed for good while it is down.
  useEffect(() => {
    const unlisten = live.listen({
      topics: [`user:${me.value?.id ?? ''}`],
      // Only an execution pausing for a verdict, or leaving the pause, changes this list.
      onEvents: (events) => {
        if (events.some((e) => e.type === 'transition' && (e.to === 'PAUSED' || e.from === 'PAUSED'))) reload.soon();
      },
      onSubscribed: reload.now,
      onReset: reload.now,
      onError: reload.now,
    });
    const timer = setInterval(() => {
      if (!document.hidden) reload.now();
    }, 15_000);
    return () => {
      unlisten();
      clearInterval(timer);
    };
  }, [reload]);

  return (
    <section>
      <h1>Manual testing</h1>
      {error && <p role="alert" class="error">{error}</p>}
      {paused.length === 0 ? <p class="empty">Nothing waits for a verdict.</p> : paused.map((p) => <ManualCard key={`${p.execution.id}/${p.step}`} paused={p} onDone={reload.now} />)}
    </section>
  );
}

function ManualCard({ paused, onDone }: { paused: Paused; onDone: () => void }) {
  const { execution, step } = paused;
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const steps = execution.item.steps ?? [];
  const current = steps[step];
  const verdict = (value: 'passed' | 'failed' | 'skipped') => {
    setBusy(true);
    api('POST', `/v1/executions/${execution.id}/steps/${step}/verdict`, { verdict: value, ...(comment ? { comment } : {}) }).then(
      () => onDone(),
      (err: Error) => {
        setError(err.message);
        setBusy(false);
      },
    );
  };
  const id = `comment-${execution.id}`;
  return (
    <article class="manual" data-execution-id={execution.id} aria-label={execution.name}>
      <h2>{execution.name}</h2>
      <p class="facts">
        Step {step + 1} of {steps.length}
      </p>
      <p class="instruction">{current?.instruction ?? current?.name}</p>
      {current?.expected && (
        <p class="expected">
          <strong>Expected:</strong> {current.expected}
        </p>
      )}
      <label for={id}>Comment</label>
      <textarea id={id} value={comment} onInput={(e) => setComment(e.currentTarget.value)} />
      <div class="actions">
        <button type="button" disabled={busy} onClick={() => verdict('passed')}>Pass</button>
        <button type="button" disabled={busy} onClick={() => verdict('failed')}>Fail</button>
        <button type="button" disabled={busy} onClick={() => verdict('skipped')}>Skip</button>
      </div>
      {error && <p role="alert" class="error">{error}</p>}
    </article>
  );
}
