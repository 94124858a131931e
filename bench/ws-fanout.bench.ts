/**
 * Fan-out of the live channel `/v1/live` under a burst: S `ws` subscribers (forked child processes,
 * ws-clients.ts; one of them, the probe, alone in its own process to show latency without client-side
 * queueing) all on one `run:<id>` topic of a fully started server (embedded engine, default durability), while
 * a run of N no-op items executes. The items are scheduled a short lead into the future, so the subscribers are
 * on the topic before the items fall due; all fall due at the same moment, so the run starts as one burst.
 * What each subscriber is owed is read back from the store's event log (`store.logSince`): the run's entries
 * after the cursor its subscription was acknowledged with (for a no-op item: the DUE, START and PASS transitions
 * and its step event). Measures delivered messages/s across all subscribers (messages received / (last receive
 * − first transition `at`)), transition `at` → client receive per transition message, and whether every
 * subscriber got every message once, in order (`all ok`). Peer in the same run (ws-peer.ts): a `ws`
 * WebSocketServer sending the same messages (as one subscriber received them) to as many `ws` clients, looping
 * over its clients, one message per turn, timed from send time. A warm-up round precedes each.
 * Env: BENCH_WS_ITEMS (N, default 300), BENCH_WS_SUBSCRIBERS (default 1000), BENCH_WS_CLIENT_PROCS (default 1),
 * BENCH_WS_LEAD_MS (default 2000), BENCH_CPU_PROFILE (a file: the main thread's CPU profile of the measured Troupe
 * round). BENCH_N is not used.
 */
import { log, main, type ScenarioResult } from './common.js';
import { allOk, countByType, liveResult, runLogDetails, line, peerRound, roundDetails, startLive, troupeRound, whole, type Live } from './ws-live.js';
import { profileRound } from './profiling.js';
import { startWsPeer } from './ws-peer.js';

const SCENARIO = 'ws-fanout';
const WARMUP_ITEMS = 50;
const RATIO_AIM = 5;
const P99_AIM_MS = 10;

main(SCENARIO, async (): Promise<ScenarioResult> => {
  const items = whole('BENCH_WS_ITEMS', 300);
  const subscribers = whole('BENCH_WS_SUBSCRIBERS', 1000);
  const procs = whole('BENCH_WS_CLIENT_PROCS', 1);
  const leadMs = whole('BENCH_WS_LEAD_MS', 2000);
  const live: Live = await startLive({ scenario: SCENARIO, subscribers, procs });
  try {
    const run = async (n: number) => {
      const scheduledAt = Date.now() + leadMs;
      const at = new Date(scheduledAt).toISOString();
      const body = { name: `fan-out ${n}`, items: Array.from({ length: n }, (_, i) => ({ name: `noop-${i}`, type: 'GENERIC', steps: [{ action: 'noop' }], scheduledAt: at })) };
      return troupeRound(live, body, scheduledAt, leadMs, 'transition `at` (ms resolution) → client receive, ms');
    };
    log(`${SCENARIO}: troupe warm-up, ${WARMUP_ITEMS} items`);
    const warm = await run(WARMUP_ITEMS);
    log(`${SCENARIO}: ${line('troupe warm-up', warm.round, subscribers)}`);
    const stopProfile = await profileRound(SCENARIO);
    const measured = await run(items);
    await stopProfile();
    const troupe = measured.round;
    const sent = countByType(measured.log);
    log(`${SCENARIO}: the run's log: ${measured.log.length} entries (${sent.transitions} transitions, ${sent.steps} step events) for ${items} items`);
    log(`${SCENARIO}: ${line(`troupe, ${items} items (submitted in ${measured.submitMs} ms, creation events published ${measured.catchUpMs} ms later, subscribed in ${measured.subscribeMs} ms)`, troupe, subscribers)}`);
    await live.closeServer();

    const peer = await startWsPeer();
    try {
      await live.clients.connect(`ws://127.0.0.1:${peer.port}`, {});
      if (peer.clients !== subscribers) throw new Error(`the ws peer has ${peer.clients} clients, not ${subscribers}`);
      const measures = 'ws: send time (ms resolution) → client receive, ms';
      const warmWs = await peerRound(live, peer, warm.round.texts, null, measures);
      log(`${SCENARIO}: ${line('ws warm-up', warmWs, subscribers)}`);
      const ws = await peerRound(live, peer, troupe.texts, null, measures);
      log(`${SCENARIO}: ${line('ws', ws, subscribers)}`);
      await live.clients.all(() => ({ op: 'close' }));

      const ratio = Number((troupe.rate / ws.rate).toFixed(3));
      log(`${SCENARIO}: troupe/ws delivered messages/s ${ratio}x (aim >= ${RATIO_AIM}x), troupe p99 ${troupe.latency.p99} ms (aim <= ${P99_AIM_MS} ms), all ok: ${allOk(troupe, subscribers)}`);
      const details: ScenarioResult['details'] = {
        throughputMeasures: 'event messages (transitions and step events) delivered per second, all subscribers: received / (last receive − first transition at)',
        subscribers,
        clientProcesses: procs,
        runLogEntries: measured.log.length,
        ...runLogDetails(live, sent, troupe.texts, measured),
        ratio,
        ratioAim: RATIO_AIM,
        p99AimMs: P99_AIM_MS,
        rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
        ...roundDetails('troupe', troupe, subscribers),
        ...roundDetails('ws', ws, subscribers),
      };
      return liveResult(SCENARIO, live, items, subscribers, troupe, details);
    } finally {
      await peer.close();
    }
  } finally {
    await live.close();
  }
});
