/**
 * `npm run bench`: runs each scenario in its own child process, one after the other, then prints a table and
 * the ratios against the peers and writes the JSON to bench/results/<timestamp>.json and latest.json.
 * Env: BENCH_N (executions per scenario, default 10 000), BENCH_SCENARIOS (comma-separated subset); each
 * scenario's own settings are described in its file.
 */
import { execFileSync, fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { arch, availableParallelism, cpus, loadavg, release, totalmem, type } from 'node:os';
import { fileURLToPath } from 'node:url';
import { CONCURRENCY, WARMUP_N, benchN, formatTable, type BenchOutput, type MemoryResult, type ScenarioResult } from './common.js';

const SCENARIOS = [
  'embedded-noop',
  'distributed-noop',
  'piscina-noop',
  'bullmq-noop',
  'bullmq-aof-noop',
  'http-api',
  'ws-fanout',
  'ws-steady',
  'live-memory',
  'duration-order',
  'history-100k',
] as const;
/** Node options of a scenario's process beyond the runner's own. */
const EXEC_ARGV: Partial<Record<(typeof SCENARIOS)[number], string[]>> = {
  // Reads memory after full collections (global.gc).
  'live-memory': ['--expose-gc'],
};
/** `aim: null`: reported, nothing to meet. */
const RATIOS: readonly { name: string; of: string; over: string; aim: number | null }[] = [
  { name: 'embedded/bullmq', of: 'embedded-noop', over: 'bullmq-noop', aim: 1.0 },
  { name: 'embedded/piscina', of: 'embedded-noop', over: 'piscina-noop', aim: 0.5 },
  { name: 'embedded/bullmq-aof', of: 'embedded-noop', over: 'bullmq-aof-noop', aim: null },
  { name: 'distributed/bullmq', of: 'distributed-noop', over: 'bullmq-noop', aim: 0.5 },
  { name: 'distributed/embedded', of: 'distributed-noop', over: 'embedded-noop', aim: null },
];
/** Other work using more than this share of one core during a measured round makes its figures suspect. */
const OTHER_CPU_LIMIT = 0.1;
/** A scenario still running after this long is killed and reported failed. */
const SCENARIO_TIMEOUT_MS = 15 * 60_000;

/** Share of all cores' time spent busy over `ms` while this process sleeps: other work skews every figure. */
async function systemBusy(ms: number): Promise<number> {
  const sample = (): { busy: number; total: number } =>
    cpus().reduce(
      (acc, { times: t }) => {
        const busy = t.user + t.nice + t.sys + t.irq;
        return { busy: acc.busy + busy, total: acc.total + busy + t.idle };
      },
      { busy: 0, total: 0 },
    );
  const before = sample();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = sample();
  return Number(((after.busy - before.busy) / Math.max(1, after.total - before.total)).toFixed(3));
}

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
const resultsDir = here('../../bench/results/');

async function versionOf(pkg: string): Promise<string> {
  const json = JSON.parse(await readFile(here(`../../node_modules/${pkg}/package.json`), 'utf8')) as { version?: string };
  return json.version ?? 'unknown';
}

/** The code measured: others may be editing the tree, so uncommitted files are listed too. */
function source(): { commit: string; uncommitted: string[] } {
  const git = (...args: string[]): string => {
    try {
      return execFileSync('git', args, { cwd: here('../..'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return '';
    }
  };
  const uncommitted = git('status', '--porcelain', '--', 'src', 'actors', 'machines').split('\n').filter(Boolean);
  return { commit: git('rev-parse', '--short', 'HEAD').trim() || 'unknown', uncommitted: uncommitted.map((l) => l.trim()) };
}

async function machine() {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    availableParallelism: availableParallelism(),
    memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    os: `${type()} ${release()} ${arch()}`,
    node: process.version,
    piscina: await versionOf('piscina'),
    bullmq: await versionOf('bullmq'),
    betterSqlite3: await versionOf('better-sqlite3'),
    loadAverage1m: Number((loadavg()[0] ?? 0).toFixed(2)),
    /** Measured over 1 s just before the first scenario. */
    busyBeforeRun: await systemBusy(1000),
  };
}

/** Forks dist/bench/<scenario>.bench.js; its last JSON line on stdout is the result. */
async function runScenario(scenario: (typeof SCENARIOS)[number], n: number): Promise<BenchOutput> {
  const child = fork(here(`./${scenario}.bench.js`), [], {
    env: { ...process.env, BENCH_N: String(n) },
    execArgv: [...process.execArgv, ...(EXEC_ARGV[scenario] ?? [])],
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  let stdout = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), SCENARIO_TIMEOUT_MS);
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null]; // after stdout is drained
  clearTimeout(timer);
  const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (line !== undefined) {
    try {
      return JSON.parse(line) as BenchOutput;
    } catch {
      // fall through: reported as failed below
    }
  }
  return { scenario, failed: `exited with ${signal ?? `code ${code}`} without a result line` };
}

const isResult = (r: BenchOutput | undefined): r is ScenarioResult => r !== undefined && 'throughput' in r;
const isMemory = (r: BenchOutput | undefined): r is MemoryResult => r !== undefined && 'kind' in r && r.kind === 'memory';

const kb = (bytes: number): string => (bytes / 1024).toFixed(2);

/** A memory scenario's row: what one held execution costs at each size. */
function memoryRow(r: MemoryResult): string[] {
  const sizes = r.points.map((p) => `${p.n}: heap ${kb(p.heapPerExecBytes)} KB/exec, RSS ${kb(p.rssPerExecBytes)} KB/exec`).join('; ');
  return [r.scenario, String(r.n), `held (${r.holds}) — ${sizes}`, `all ok ${r.allOk ? 'yes' : 'NO'}`];
}

function table(results: BenchOutput[]): string {
  const head = ['scenario', 'N', 'in flight', 'threads', 'wall ms', 'exec/s', 'lat p50 ms', 'lat p99 ms', 'CPU µs/exec', 'other CPU ms', 'all ok'];
  const rows = results.map((r) =>
    isResult(r)
      ? [r.scenario, r.n, r.concurrency, r.threads ?? '-', r.wallMs, r.throughput, r.latency.p50, r.latency.p99, Math.round((r.cpuMs * 1000) / r.n), r.otherCpuMs ?? '-', r.allOk ? 'yes' : `NO (${r.okCount})`].map(String)
      : isMemory(r)
        ? memoryRow(r)
        : [r.scenario, 'skipped' in r ? `skipped: ${r.skipped}` : `FAILED: ${r.failed}`],
  );
  const widths = head.map((h, i) => Math.max(h.length, ...rows.filter((r) => r.length === head.length).map((r) => r[i]?.length ?? 0)));
  const fmt = (cells: string[]): string =>
    cells.length === head.length ? cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ') : cells.join('  ');
  return [fmt(head), ...rows.map(fmt)].join('\n');
}

interface Aim {
  name: string;
  value: number | null;
  unit: string;
  aim: string;
  met: boolean | null;
}

/** The aims beside the throughput ratios, from the scenarios' results and details (measured, never asserted). */
function serviceAims(byName: Map<string, BenchOutput>): Aim[] {
  const detail = (scenario: string, key: string): number | null => {
    const r = byName.get(scenario);
    const value = isResult(r) ? r.details[key] : undefined;
    return typeof value === 'number' ? value : null;
  };
  const ok = (scenario: string): boolean => {
    const r = byName.get(scenario);
    return isResult(r) && r.allOk;
  };
  const aims: Aim[] = [];
  // The engine against BullMQ in the same run: CPU per execution and queue latency p99 no worse.
  const result = (scenario: string) => {
    const r = byName.get(scenario);
    return isResult(r) ? r : null;
  };
  const embedded = result('embedded-noop');
  const bullmq = result('bullmq-noop');
  if (embedded && bullmq) {
    const cpu = (r: ScenarioResult) => Math.round((r.cpuMs * 1000) / r.n);
    aims.push({ name: 'embedded CPU per execution (BullMQ: node + redis)', value: cpu(embedded), unit: 'µs', aim: `<= ${cpu(bullmq)} µs (BullMQ)`, met: cpu(embedded) <= cpu(bullmq) });
    aims.push({ name: 'embedded queue latency p99', value: embedded.latency.p99, unit: 'ms', aim: `<= ${bullmq.latency.p99} ms (BullMQ)`, met: embedded.latency.p99 <= bullmq.latency.p99 });
  }
  const distributed = result('distributed-noop');
  const coordinatorCpu = distributed ? detail('distributed-noop', 'coordinatorCpuUsPerExec') : null;
  if (distributed) aims.push({ name: 'distributed coordinator CPU per execution', value: coordinatorCpu, unit: 'µs', aim: '<= 150 µs', met: coordinatorCpu === null ? null : coordinatorCpu <= 150 });
  const steadyP99 = detail('distributed-noop', 'steadyQueueP99');
  if (distributed) aims.push({ name: 'distributed queue latency p99 at 500 submits/s', value: steadyP99, unit: 'ms', aim: '<= 20 ms', met: steadyP99 === null ? null : steadyP99 <= 20 });
  const create = detail('http-api', 'createRatio');
  aims.push({ name: 'http-api POST /v1/executions troupe/bare', value: create, unit: 'x', aim: '>= 0.25x', met: create === null ? null : create >= 0.25 });
  const get = detail('http-api', 'getRatio');
  aims.push({ name: 'http-api GET /v1/executions/:id troupe/bare', value: get, unit: 'x', aim: '>= 0.5x', met: get === null ? null : get >= 0.5 });
  const ratio = detail('ws-fanout', 'ratio');
  aims.push({ name: 'ws-fanout troupe/ws delivered messages/s', value: ratio, unit: 'x', aim: '>= 5x with all ok', met: ratio === null ? null : ratio >= 5 && ok('ws-fanout') });
  const p99 = detail('ws-steady', 'troupeP99Ms');
  aims.push({ name: 'ws-steady p99 transition → client, all subscribers', value: p99, unit: 'ms', aim: '<= 10 ms', met: p99 === null ? null : p99 <= 10 });
  const order = detail('duration-order', 'ratio');
  aims.push({ name: 'duration-order wall time ordered/plain (skewed run)', value: order, unit: 'x', aim: '< 1x', met: order === null ? null : order < 1 });
  const memory = byName.get('live-memory');
  const heap = isMemory(memory) ? (memory.points[memory.points.length - 1]?.heapPerExecBytes ?? null) : null;
  aims.push({ name: 'live-memory heap per held execution', value: heap === null ? null : Number(kb(heap)), unit: 'KB', aim: '<= 4 KB', met: heap === null ? null : heap <= 4096 });
  return aims;
}

async function mainRun(): Promise<void> {
  const n = benchN();
  const only = process.env.BENCH_SCENARIOS?.split(',').map((s) => s.trim()).filter(Boolean);
  const scenarios = only?.length ? SCENARIOS.filter((s) => only.includes(s)) : [...SCENARIOS];
  const host = await machine();
  console.log('machine:', JSON.stringify(host, null, 2));
  if (host.busyBeforeRun > 0.1) {
    console.log(`WARNING: the CPUs were ${Math.round(host.busyBeforeRun * 100)}% busy before the run; figures will be noisy`);
  }
  console.log(`N=${n} per scenario (after a ${WARMUP_N}-execution warm-up), at most ${CONCURRENCY} in flight\n`);

  const results: BenchOutput[] = [];
  for (const scenario of scenarios) {
    console.error(`--- ${scenario}`);
    const result = await runScenario(scenario, n);
    results.push(result);
    console.log(`${scenario}: ${JSON.stringify(result)}`);
  }
  console.log(`\n${table(results)}\n`);
  for (const r of results.filter(isResult)) {
    for (const t of r.tables ?? []) console.log(`${formatTable({ ...t, title: `${r.scenario}: ${t.title}` })}\n`);
  }
  for (const r of results.filter(isResult)) {
    if ((r.otherCpuMs ?? 0) > OTHER_CPU_LIMIT * r.wallMs) {
      console.log(`WARNING: ${r.scenario}: ${r.otherCpuMs} ms of other CPU work during its ${r.wallMs} ms round; its figures are suspect`);
    }
  }

  const byName = new Map(results.map((r) => [r.scenario, r]));
  const ratios = RATIOS.map(({ name, of, over, aim }) => {
    const a = byName.get(of);
    const b = byName.get(over);
    const value = isResult(a) && isResult(b) ? Number((a.throughput / b.throughput).toFixed(3)) : null;
    const met = value === null || aim === null ? null : value >= aim;
    const verdict = value === null ? 'n/a (a scenario did not run)' : met ? 'aim met' : 'aim NOT met';
    console.log(`${name} throughput: ${value === null ? '-' : `${value}x`}   (${aim === null ? 'no aim' : `aim >= ${aim}x: ${verdict}`})`);
    return { name, value, aim, met };
  });

  const aims = serviceAims(byName);
  for (const a of aims) console.log(`${a.name}: ${a.value === null ? '-' : `${a.value}${a.unit === "x" ? "x" : ` ${a.unit}`}`}   (aim ${a.aim}: ${a.met === null ? 'n/a (the scenario did not run)' : a.met ? 'aim met' : 'aim NOT met'})`);

  const at = new Date().toISOString();
  const code = source();
  console.log(`code: ${code.commit}${code.uncommitted.length ? ` + ${code.uncommitted.length} uncommitted file(s) under src/actors/machines` : ''}`);
  const output = JSON.stringify({ at, n, warmup: WARMUP_N, concurrency: CONCURRENCY, machine: host, code, results, ratios, aims }, null, 2);
  await mkdir(resultsDir, { recursive: true });
  const file = `${resultsDir}${at.replace(/[:.]/g, '-')}.json`;
  await writeFile(file, `${output}\n`);
  await writeFile(`${resultsDir}latest.json`, `${output}\n`);
  console.log(`\nwritten: ${file} and bench/results/latest.json`);
  if (results.some((r) => 'failed' in r)) process.exitCode = 1;
}

await mainRun();
