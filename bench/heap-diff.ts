/**
 * What the heap gained between two V8 heap snapshots, per held execution: objects grouped by constructor and
 * property names (so an XState snapshot, a machine context and a plain record show apart), and internal arrays
 * by kind, sorted by bytes. Made for live-memory's snapshots:
 *
 *   BENCH_MEMORY_N=5000 BENCH_HEAP_SNAPSHOTS=/tmp/heap node --expose-gc dist/bench/live-memory.bench.js
 *   node --max-old-space-size=4096 dist/bench/heap-diff.js /tmp/heap/baseline.heapsnapshot /tmp/heap/held.heapsnapshot 5000
 *
 * Counts are per execution (the difference divided by the third argument); self sizes only (no retained sizes).
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** Bytes and count per group key. */
function groups(file: string): Map<string, { count: number; bytes: number }> {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const { node_fields: nf, node_types: [nodeTypes], edge_fields: ef, edge_types: [edgeTypes] } = s.snapshot.meta;
  const [type, name, size, edgeCount] = ['type', 'name', 'self_size', 'edge_count'].map((f) => nf.indexOf(f)) as [number, number, number, number];
  const [edgeType, edgeName] = ['type', 'name_or_index'].map((f) => ef.indexOf(f)) as [number, number];
  const out = new Map<string, { count: number; bytes: number }>();
  let edge = 0;
  for (let i = 0; i < s.nodes.length; i += nf.length) {
    const kind = nodeTypes[s.nodes[i + type] ?? 0] ?? '?';
    const label = s.strings[s.nodes[i + name] ?? 0] ?? '';
    const properties: string[] = [];
    const edges = s.nodes[i + edgeCount] ?? 0;
    for (let e = 0; e < edges; e++, edge += ef.length) {
      if (edgeTypes[s.edges[edge + edgeType] ?? 0] === 'property') properties.push(s.strings[s.edges[edge + edgeName] ?? 0] ?? '');
    }
    let key: string;
    if (kind === 'object') key = `${label} {${properties.filter((p) => p !== '__proto__').slice(0, 10).join(', ')}}`;
    else if (kind === 'closure') key = `closure ${label || '(anonymous)'}`;
    else if (kind.includes('string')) key = '(strings)';
    else if (kind === 'number' || kind === 'bigint') key = `(${kind}s)`;
    else key = `(${kind}) ${label.slice(0, 40)}`;
    const g = out.get(key) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += s.nodes[i + size] ?? 0;
    out.set(key, g);
  }
  return out;
}

const [before, after, perArg, topArg] = process.argv.slice(2);
if (before === undefined || after === undefined || perArg === undefined) {
  console.error('usage: node dist/bench/heap-diff.js <before.heapsnapshot> <after.heapsnapshot> <executions held> [top]');
  process.exitCode = 2;
} else {
  const per = Number(perArg);
  const a = groups(before);
  const b = groups(after);
  const rows = [...b].map(([key, g]) => {
    const o = a.get(key) ?? { count: 0, bytes: 0 };
    return { key, count: (g.count - o.count) / per, bytes: (g.bytes - o.bytes) / per };
  });
  const total = rows.reduce((sum, r) => sum + r.bytes, 0);
  console.log(`heap self size gained per execution: ${total.toFixed(0)} bytes`);
  for (const r of rows.sort((x, y) => y.bytes - x.bytes).slice(0, Number(topArg ?? 25))) {
    console.log(`${r.bytes.toFixed(0).padStart(7)} B  ${r.count.toFixed(2).padStart(6)} ×  ${r.key}`);
  }
}
