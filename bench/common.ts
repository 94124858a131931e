/**
 * Shared by every scenario and by run.ts: the result shape, percentiles and output discipline.
 * A scenario writes exactly one JSON line to stdout (its result); everything else goes to stderr.
 */
import { readFileSync } from 'node:fs';

/** Percentiles of a latency sample, in milliseconds. */
export interface LatencySummary {
  /** What was measured, from which event to which. */
  measures: string;
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface ScenarioResult {
  scenario: string;
  /** Executions measured (warm-up excluded). */
  n: number;
  /** Most executions in flight at once. */
  concurrency: number;
  /** Worker threads, where the scenario uses threads. */
  threads?: number;
  wallMs: number;
  /** Executions per second over `wallMs`. */
  throughput: number;
  /** The queue latency the brief asks for (see `measures`). */
  latency: LatencySummary;
  /** Time an execution spent in flight once started. */
  service?: LatencySummary;
  /** CPU time (user + system) of every process doing the work, over `wallMs`. */
  cpuMs: number;
  /**
   * Busy time of the whole machine over `wallMs` minus `cpuMs` (from /proc/stat, 10 ms ticks; null off Linux):
   * other work that competed with the scenario, plus kernel work not charged to its processes (softirq, journal).
   */
  otherCpuMs?: number | null;
  /** How many of the n ended successfully; `allOk` when all did. */
  okCount: number;
  allOk: boolean;
  details: Record<string, string | number | boolean | null>;
  /** Further tables the scenario measured (run.ts prints them after the summary). */
  tables?: ResultTable[];
}

/** A small table of figures, printed as aligned columns. */
export interface ResultTable {
  title: string;
  head: string[];
  rows: (string | number | null)[][];
  /** Said under the table. */
  note?: string;
}

/** A table as aligned text: right-aligned columns, `-` for null. */
export function formatTable({ title, head, rows, note }: ResultTable): string {
  const cells = rows.map((row) => row.map((c) => (c === null ? '-' : String(c))));
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const line = (row: string[]): string => row.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ');
  return [title, line(head), ...cells.map(line), ...(note ? [note] : [])].join('\n');
}

/** One size of a memory scenario: what the process held after a full GC, over its baseline. */
export interface MemoryPoint {
  /** Executions held. */
  n: number;
  /** Growth over the baseline, bytes: V8 heap used, resident set size, memory outside the heap (`external`). */
  heapUsedBytes: number;
  rssBytes: number;
  externalBytes: number;
  /** The same divided by n. */
  heapPerExecBytes: number;
  rssPerExecBytes: number;
}

/** A scenario that measures memory, not throughput (live-memory). */
export interface MemoryResult {
  scenario: string;
  kind: 'memory';
  /** Executions held at the largest size. */
  n: number;
  /** What one held execution is (e.g. `SCHEDULED GENERIC no-op, due in 1 day`). */
  holds: string;
  /** Ascending sizes; the last is n. */
  points: MemoryPoint[];
  /** Every execution was held (live in the engine and stored with the expected status). */
  allOk: boolean;
  details: Record<string, string | number | boolean | null>;
}

export interface SkippedResult {
  scenario: string;
  skipped: string;
}

export interface FailedResult {
  scenario: string;
  failed: string;
}

export type BenchOutput = ScenarioResult | MemoryResult | SkippedResult | FailedResult;

export const DEFAULT_N = 10_000;
/** In-flight limit shared by all scenarios: the engine's EXECUTION_MAX_CONCURRENT_JOBS. */
export const CONCURRENCY = 50;
/** Executions of the warm-up round each scenario runs first in the same process. */
export const WARMUP_N = 200;

/** Executions per scenario: env BENCH_N, default 10 000. */
export function benchN(env: Record<string, string | undefined> = process.env): number {
  return benchInt('BENCH_N', DEFAULT_N, 1, env);
}

/** A whole-number setting from the environment, at least `min`; `fallback` when unset or empty. */
export function benchInt(name: string, fallback: number, min = 1, env: Record<string, string | undefined> = process.env): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be a whole number of at least ${min}, got ${raw}`);
  return n;
}

const round = (value: number, digits = 2): number => Number(value.toFixed(digits));

/** Nearest-rank percentiles. */
export function summarize(measures: string, values: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  const rank = (p: number): number => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
  return { measures, count: sorted.length, p50: round(rank(50)), p99: round(rank(99)), max: round(rank(100)) };
}

export function throughput(n: number, wallMs: number): number {
  return round((n * 1000) / wallMs, 1);
}

/** Epoch milliseconds with sub-millisecond resolution, comparable across worker threads. */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

/** CPU time (user + system, all threads of this process) since `start`, in ms. */
export function cpuMsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return Math.round((used.user + used.system) / 1000);
}

/**
 * CPU time (user + system) of the calling thread since it started, ms, from /proc/thread-self (10 ms ticks);
 * null off Linux. The engine's main thread is what limits it, so its share is reported on its own.
 */
export function threadCpuMs(): number | null {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}

/** Busy time of all cores since boot (user, nice, system, irq, softirq from /proc/stat), ms; null off Linux. */
export function machineBusyMs(): number | null {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = cpu.trim().split(/\s+/).slice(1).map(Number);
    return (user + nice + system + irq + softirq) * 10;
  } catch {
    return null;
  }
}

/** Machine busy time since `start` (a machineBusyMs() value) beyond the scenario's own `cpuMs`. */
export function otherCpuMsSince(start: number | null, cpuMs: number): number | null {
  const now = machineBusyMs();
  return now === null || start === null ? null : now - start - cpuMs;
}

export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** Writes the scenario's single result line. */
export function report(result: BenchOutput): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** Runs a scenario body; an exception becomes a `failed` result and a non-zero exit. */
export function main(scenario: string, body: () => Promise<BenchOutput>): void {
  body().then(report, (err: unknown) => {
    log(err instanceof Error ? (err.stack ?? err.message) : String(err));
    report({ scenario, failed: err instanceof Error ? err.message : String(err) });
    process.exitCode = 1;
  });
}
