/**
 * `node dist/bench/jetstream-publish.js`: the cost of one acknowledged JetStream publish, through nats.js
 * `js.publish` (what the bus used up to c5b4e3f) and through the bus's StreamPublisher, on one throw-away
 * nats-server, in the same process, alternating (A B A B). Each path keeps IN_FLIGHT publishes outstanding,
 * each with its own Nats-Msg-Id, the payload a transition event. Prints one JSON line per round and the
 * medians. Env: BENCH_N (publishes per round, default 20 000).
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { StreamPublisher } from '../src/bus/jetstream/publisher.js';
import { benchInt, log } from './common.js';
import { natsServer, startNats } from './nats-server.js';

const IN_FLIGHT = 200;
const ROUNDS = 3;

const found = natsServer();
if (found === null) {
  log('nats-server is not installed (set NATS_SERVER_BIN)');
  process.exit(0);
}
const n = benchInt('BENCH_N', 20_000);
await using nats = await startNats(found);
const nc = await connect({ servers: nats.url });
const jsm = await jetstreamManager(nc);
await jsm.streams.add({ name: 'PUBBENCH', subjects: ['pubbench.>'] });
const js = jetstream(nc);
const publisher = new StreamPublisher(nc);
const encoder = new TextEncoder();
const payload = (i: number) =>
  encoder.encode(JSON.stringify({ type: 'transition', executionId: `exe_${i}`, runId: null, seq: 2, from: 'PENDING', to: 'RUNNING', event: 'START', at: Date.now(), attempt: 1, reason: null, actor: 'scheduler' }));

type Path = (subject: string, data: Uint8Array, msgID: string) => Promise<unknown>;
const paths: Record<string, Path> = {
  'js.publish': (subject, data, msgID) => js.publish(subject, data, { msgID }),
  StreamPublisher: (subject, data, msgID) => publisher.publish(subject, data, msgID),
};

let offset = 0;
async function round(name: string, count: number) {
  const publish = paths[name]!;
  const base = offset;
  offset += count;
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = base + next++;
      await publish(`pubbench.${i % 64}`, payload(i), `m${i}`);
    }
  };
  const natsBefore = nats.cpuMs();
  const cpu = process.cpuUsage();
  const start = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  const wallMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  const natsAfter = nats.cpuMs();
  return {
    path: name,
    n: count,
    publishesPerS: Math.round((count * 1000) / wallMs),
    clientCpuUsPerPublish: Number(((used.user + used.system) / count).toFixed(1)),
    natsCpuUsPerPublish: natsBefore === null || natsAfter === null ? null : Number((((natsAfter - natsBefore) * 1000) / count).toFixed(1)),
  };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const results: Awaited<ReturnType<typeof round>>[] = [];
for (const name of Object.keys(paths)) await round(name, Math.min(2_000, n)); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  for (const name of Object.keys(paths)) {
    const result = await round(name, n);
    results.push(result);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
}
for (const name of Object.keys(paths)) {
  const mine = results.filter((r) => r.path === name);
  log(`${name}: ${median(mine.map((r) => r.publishesPerS))} publishes/s, client ${median(mine.map((r) => r.clientCpuUsPerPublish))} µs CPU per publish (medians of ${mine.length})`);
}
publisher.close();
await nc.close();
