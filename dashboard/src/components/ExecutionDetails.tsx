import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import type { Execution, Step } from '../types.js';

/** An execution's steps by attempt: status, duration, error and output. Reloaded when a step event arrives. */
export function ExecutionDetails({ execution, version }: { execution: Execution; version: number }) {
  const [steps, setSteps] = useState<Step[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api<{ items: Step[] }>('GET', `/v1/executions/${execution.id}/steps`).then((r) => setSteps(r.items), (err: Error) => setError(err.message));
  }, [execution.id, execution.status, version]);
  if (error) return <p class="error">{error}</p>;
  if (!steps) return <p class="facts">Loading steps…</p>;
  if (steps.length === 0) return <p class="facts">No steps recorded yet.</p>;
  return (
    <ol class="steps">
      {steps.map((s) => (
        <li key={`${s.attempt}/${s.index}`}>
          <span class={`status s-${s.status}`}>{s.status}</span> attempt {s.attempt} · {s.name} · {s.durationMs} ms
          {s.error && <p class="error">{s.error.message}</p>}
          {s.output && <pre>{s.output}</pre>}
        </li>
      ))}
    </ol>
  );
}
