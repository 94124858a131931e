import { STATUSES } from '../types.js';

/** Counts by status as one bar of coloured segments; its text alternative lists them. */
export function StackedBar({ counts, total }: { counts: Record<string, number>; total: number }) {
  const parts = STATUSES.filter((s) => (counts[s] ?? 0) > 0).map((s) => [s, counts[s] as number] as const);
  const sum = Math.max(total, parts.reduce((n, [, c]) => n + c, 0), 1);
  const label = parts.length === 0 ? 'no executions' : parts.map(([s, c]) => `${c} ${s}`).join(', ');
  return (
    <div class="bar" role="img" aria-label={label} title={label}>
      {parts.map(([s, c]) => (
        <span key={s} class={`seg s-${s}`} style={{ width: `${(c / sum) * 100}%` }} />
      ))}
    </div>
  );
}

/** How long something took, readable: 850 ms, 12.3 s, 4 min 5 s. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}
