/**
 * Where a thread's time went, from a V8 CPU profile (`node --cpu-prof`): the busiest functions by self time,
 * self time by area (a file of this project, a package, Node's internals, GC), and the time spent under each
 * file of this project (inclusive: a sample counts once for every project file on its stack).
 *
 *   BENCH_CPU_PROFILE=/tmp/steady.cpuprofile node dist/bench/ws-steady.bench.js   (the measured round only)
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof dist/bench/embedded-noop.bench.js     (the whole process)
 *   node dist/bench/cpu-profile.js /tmp/prof/CPU.<...>.cpuprofile [top=15]
 *
 * Node writes one profile per thread (`CPU.<date>.<time>.<pid>.<thread id>.<n>.cpuprofile`); the main thread's
 * has thread id 0.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const PROJECT_DIRS = /\/(?:dist\/)?((?:src|actors|machines|bench)\/.+?)\.js$/;

/** A short name for where a frame's code lives. */
export function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] as string;
  const project = PROJECT_DIRS.exec(url);
  if (project) return project[1] as string;
  if (url.startsWith('node:')) return `node:${url.slice(5).replace(/^internal\//, '').split('/')[0] ?? ''}`;
  return url;
}

function projectFile(frame: CallFrame): string | null {
  if (frame.url.includes('/node_modules/')) return null;
  return PROJECT_DIRS.exec(frame.url)?.[1] ?? null;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  busyMs: number;
  functions: { name: string; where: string; selfMs: number; share: number }[];
  areas: { area: string; selfMs: number; share: number }[];
  projectFiles: { file: string; totalMs: number; share: number }[];
}

export function summarizeProfile(profile: Profile, top = 15): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  const self = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; the time a sample stands for is the delta after it.
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i + 1] ?? 0;
    self.set(id, (self.get(id) ?? 0) + us);
  });
  let totalUs = 0;
  let idleUs = 0;
  const functions = new Map<string, { name: string; where: string; us: number }>();
  const areas = new Map<string, number>();
  const files = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    totalUs += us;
    const frame = node.callFrame;
    if (frame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const where = frame.url === '' ? '' : `${areaOf(frame)}:${frame.lineNumber + 1}`;
    const key = `${frame.functionName}@${where}`;
    const f = functions.get(key) ?? { name: frame.functionName || '(anonymous)', where, us: 0 };
    f.us += us;
    functions.set(key, f);
    const area = areaOf(frame);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const file = projectFile(byId.get(at)?.callFrame ?? { functionName: '', url: '', lineNumber: 0 });
      if (file && !seen.has(file)) {
        seen.add(file);
        files.set(file, (files.get(file) ?? 0) + us);
      }
    }
  }
  const busyUs = totalUs - idleUs;
  const ms = (us: number) => Math.round(us / 100) / 10;
  const share = (us: number) => Number(((100 * us) / Math.max(1, busyUs)).toFixed(1));
  return {
    totalMs: ms(totalUs),
    idleMs: ms(idleUs),
    busyMs: ms(busyUs),
    functions: [...functions.values()].sort((a, b) => b.us - a.us).slice(0, top).map((f) => ({ name: f.name, where: f.where, selfMs: ms(f.us), share: share(f.us) })),
    areas: [...areas].sort((a, b) => b[1] - a[1]).slice(0, top).map(([area, us]) => ({ area, selfMs: ms(us), share: share(us) })),
    projectFiles: [...files].sort((a, b) => b[1] - a[1]).slice(0, top).map(([file, us]) => ({ file, totalMs: ms(us), share: share(us) })),
  };
}

function print(file: string, top: number): void {
  const s = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as Profile, top);
  console.log(`${file}\nprofiled ${s.totalMs} ms: busy ${s.busyMs} ms, idle ${s.idleMs} ms (shares below are of the busy time)\n`);
  console.log('self time by function:');
  for (const f of s.functions) console.log(`  ${f.share.toFixed(1).padStart(5)} %  ${String(f.selfMs).padStart(8)} ms  ${f.name}  ${f.where}`);
  console.log('\nself time by area:');
  for (const a of s.areas) console.log(`  ${a.share.toFixed(1).padStart(5)} %  ${String(a.selfMs).padStart(8)} ms  ${a.area}`);
  console.log('\ntime under each project file (inclusive):');
  for (const f of s.projectFiles) console.log(`  ${f.share.toFixed(1).padStart(5)} %  ${String(f.totalMs).padStart(8)} ms  ${f.file}`);
}

const [file, topArg] = process.argv.slice(2);
if (file === undefined) {
  console.error('usage: node dist/bench/cpu-profile.js <file.cpuprofile> [top]');
  process.exitCode = 2;
} else {
  print(file, Number(topArg ?? 15));
}
