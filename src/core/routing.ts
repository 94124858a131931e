import { createHash } from 'node:crypto';

/**
 * Label routing. An item's `requires` map picks its pool: no requirements → the base pool; otherwise a pool
 * named after a hash of the requirements, declared on the bus with them, so any worker whose labels include
 * them finds it (bus.listPools) and takes its jobs. Jobs never reach a worker that lacks a required label.
 */

/** Requirements as one canonical string: keys sorted. */
function canonical(requires: Record<string, string>): string {
  return JSON.stringify(Object.keys(requires).sort().map((key) => [key, requires[key]]));
}

/** The pool of jobs that need `requires`, derived from the base pool (at most 46 + 18 characters). */
export function requirementPool(base: string, requires: Record<string, string>): string {
  const hash = createHash('sha256').update(canonical(requires)).digest('hex').slice(0, 16);
  return `${base.slice(0, 46)}-r${hash}`;
}

/** Whether an agent with `labels` may run work that `requires` these labels. */
export function satisfies(labels: Record<string, string>, requires: Record<string, string>): boolean {
  return Object.entries(requires).every(([key, value]) => labels[key] === value);
}

/** `a=1,b=2` → `{ a: "1", b: "2" }`; throws on an entry without `=` or with an empty key. */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`label "${part}" is not key=value`);
    labels[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return labels;
}
