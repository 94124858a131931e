/**
 * The live channel `/v1/live` under a steady load: S `ws` subscribers (as in ws-fanout: forked client processes,
 * the probe alone in one more) on one `run:<id>` topic of a fully started server (embedded engine, default
 * durability), while the engine produces transitions at a steady R per second for T seconds. The load is one run
 * of no-op items whose `scheduledAt` are spread evenly, item i due at start + lead + i · k/R, where k is the
 * number of transitions one item produces once due (DUE, START, PASS: read from the warm-up's event log, not
 * assumed); each item also produces its step event, so the subscribers receive k + 1 messages per item. Measures
 * transition `at` → client receive (p50/p99/max over all subscribers, and the probe's), per second of the round,
 * and whether every subscriber got every message once, in order. Reports the rate the engine actually produced
 * (transitions / (last − first `at`) from the log, and the busiest 100 ms). Peer in the same run (ws-peer.ts):
 * a `ws` WebSocketServer sending the same messages to as many `ws` clients, paced evenly over the same span,
 * each transition timed from the moment it was due.
 * Env: BENCH_STEADY_RATE (R, transitions/s, default 1000), BENCH_STEADY_SECONDS (T, default 10),
 * BENCH_STEADY_WARMUP_SECONDS (default 1), BENCH_WS_SUBSCRIBERS (default 1000), BENCH_WS_CLIENT_PROCS (default 1),
 * BENCH_WS_LEAD_MS (default 4000), BENCH_CPU_PROFILE (a file: the main thread's CPU profile of the measured Troupe
 * round), BENCH_WS_PEER=0 (no peer round: `ws` takes minutes to send what Troupe sends in 10 s here). BENCH_N is
 * not used.
 */
import type { LogEntry } from '../src/store/store.port.js';
import { log, main, summarize, type ScenarioResult } from './common.js';
import { allOk, countByType, liveResult, runLogDetails, line, peerRound, roundDetails, startLive, troupeRound, whole, type Live, type Round } from './ws-live.js';
import { profileRound } from './profiling.js';
import { startWsPeer } from './ws-peer.js';

const SCENARIO = 'ws-steady';
const P99_AIM_MS = 10;
/** Only for pacing the warm-up, whose log then gives the real figure for the measured round. */
const FIRST_GUESS_TRANSITIONS_PER_ITEM = 3;
/** `ws` cannot keep the pace of the measured round here (see docs/benchmarks.md); its warm-up is kept short. */
const PEER_WARMUP_MESSAGES = 400;

/** Transitions the run produced once due (creation events, stored before the subscription, left out). */
function produced(entries: readonly LogEntry[]): { transitions: number; perSec: number; peakPerSec: number; spanMs: number } {
  const ats = entries.flatMap((e) => (e.kind === 'transition' && e.record.seq > 1 ? [e.record.at] : [])).sort((a, b) => a - b);
  const first = ats[0] ?? 0;
  const spanMs = (ats[ats.length - 1] ?? 0) - first;
  const per100 = new Map<number, number>();
  for (const at of ats) {
    const slot = Math.floor((at - first) / 100);
    per100.set(slot, (per100.get(slot) ?? 0) + 1);
  }
  return {
    transitions: ats.length,
    perSec: Math.round((ats.length * 1000) / Math.max(1, spanMs)),
    peakPerSec: Math.max(0, ...per100.values()) * 10,
    spanMs,
  };
}

/** How late each execution's DUE transition came after its `scheduledAt`: whether the engine kept the pace. */
function dueLateness(entries: readonly LogEntry[], executionIds: readonly string[], dueAt: (i: number) => number) {
  const index = new Map(executionIds.map((id, i) => [id, i]));
  const late: number[] = [];
  for (const e of entries) {
    const i = index.get(e.executionId);
    if (e.kind === 'transition' && e.record.from === 'SCHEDULED' && i !== undefined) late.push(e.record.at - dueAt(i));
  }
  return summarize('DUE transition `at` − the item\'s scheduledAt, ms', late);
}

main(SCENARIO, async (): Promise<ScenarioResult> => {
  const rate = whole('BENCH_STEADY_RATE', 1000);
  const seconds = whole('BENCH_STEADY_SECONDS', 10);
  const warmupSeconds = whole('BENCH_STEADY_WARMUP_SECONDS', 1);
  const subscribers = whole('BENCH_WS_SUBSCRIBERS', 1000);
  const procs = whole('BENCH_WS_CLIENT_PROCS', 1);
  const leadMs = whole('BENCH_WS_LEAD_MS', 4000);
  const withPeer = process.env.BENCH_WS_PEER !== '0';
  const live: Live = await startLive({ scenario: SCENARIO, subscribers, procs });
  try {
    /** One run of `items` no-op items, one falling due every `spacingMs`, the first `leadMs` from now. */
    const steadyRun = async (items: number, spacingMs: number) => {
      const start = Date.now() + leadMs;
      const dueAt = (i: number) => start + Math.round(i * spacingMs);
      const body = {
        name: `steady ${items}`,
        items: Array.from({ length: items }, (_, i) => ({
          name: `noop-${i}`,
          type: 'GENERIC',
          steps: [{ action: 'noop' }],
          scheduledAt: new Date(dueAt(i)).toISOString(),
        })),
      };
      const r = await troupeRound(live, body, start, leadMs, 'transition `at` (ms resolution) → client receive, ms');
      return { ...r, late: dueLateness(r.log, r.executionIds, dueAt) };
    };
    const warmItems = Math.max(1, Math.round((rate * warmupSeconds) / FIRST_GUESS_TRANSITIONS_PER_ITEM));
    log(`${SCENARIO}: troupe warm-up, ${warmItems} items over ${warmupSeconds} s`);
    const warm = await steadyRun(warmItems, (FIRST_GUESS_TRANSITIONS_PER_ITEM * 1000) / rate);
    log(`${SCENARIO}: ${line('troupe warm-up', warm.round, subscribers)}`);
    const perItem = produced(warm.log).transitions / warmItems;
    if (!Number.isInteger(perItem) || perItem < 1) throw new Error(`the warm-up's items produced ${perItem} transitions each once due`);

    const items = Math.max(1, Math.round((rate * seconds) / perItem));
    const spacingMs = (perItem * 1000) / rate;
    log(`${SCENARIO}: measuring: ${items} items, one due every ${spacingMs.toFixed(3)} ms (${perItem} transitions each once due: ${rate} transitions/s for ${seconds} s)`);
    const stopProfile = await profileRound(SCENARIO);
    const measured = await steadyRun(items, spacingMs);
    await stopProfile();
    const troupe = measured.round;
    const made = produced(measured.log);
    const sent = countByType(measured.log);
    log(
      `${SCENARIO}: the engine produced ${made.transitions} transitions over ${made.spanMs} ms: ${made.perSec}/s ` +
        `(busiest 100 ms: ${made.peakPerSec}/s); the run's log holds ${sent.transitions} transitions and ${sent.steps} step events; ` +
        `DUE after scheduledAt p50 ${measured.late.p50} ms, p99 ${measured.late.p99} ms, max ${measured.late.max} ms`,
    );
    log(`${SCENARIO}: ${line(`troupe, ${items} items (submitted in ${measured.submitMs} ms, creation events published ${measured.catchUpMs} ms later, subscribed in ${measured.subscribeMs} ms)`, troupe, subscribers)}`);
    log(`${SCENARIO}: troupe p99 by second: ${troupe.perSecond.map((s) => s.p99).join(' ')}; the probe's: ${troupe.perSecond.map((s) => s.probeP99).join(' ')}`);
    log(`${SCENARIO}: troupe max by second: ${troupe.perSecond.map((s) => s.max).join(' ')}`);
    await live.closeServer();

    /** The peer's rounds: the same messages, evenly over the span the engine was asked to produce them in. */
    const peerRounds = async (): Promise<Round> => {
      const peer = await startWsPeer();
      try {
        await live.clients.connect(`ws://127.0.0.1:${peer.port}`, {});
        if (peer.clients !== subscribers) throw new Error(`the ws peer has ${peer.clients} clients, not ${subscribers}`);
        const measures = 'ws: due time (ms resolution) → client receive, ms';
        const interval = (texts: readonly string[], n: number, spacing: number) => (n * spacing) / Math.max(1, texts.length);
        // The peer's warm-up: the first messages of the Troupe warm-up, at the same pace (enough to warm `ws` up).
        const warmTexts = warm.round.texts.slice(0, PEER_WARMUP_MESSAGES);
        const warmInterval = interval(warm.round.texts, warmItems, (FIRST_GUESS_TRANSITIONS_PER_ITEM * 1000) / rate);
        const warmWs = await peerRound(live, peer, warmTexts, warmInterval, measures);
        log(`${SCENARIO}: ${line('ws warm-up', warmWs, subscribers)}`);
        const r = await peerRound(live, peer, troupe.texts, interval(troupe.texts, items, spacingMs), measures);
        log(`${SCENARIO}: ${line('ws', r, subscribers)}`);
        log(`${SCENARIO}: ws p99 by second: ${r.perSecond.map((x) => x.p99).join(' ')}; the probe's: ${r.perSecond.map((x) => x.probeP99).join(' ')}`);
        await live.clients.all(() => ({ op: 'close' }));
        return r;
      } finally {
        await peer.close();
      }
    };
    const ws = withPeer ? await peerRounds() : null;
    if (!ws) log(`${SCENARIO}: no peer round (BENCH_WS_PEER=0)`);

    const p99Ratio = ws ? Number((troupe.latency.p99 / ws.latency.p99).toFixed(3)) : null;
    const rateRatio = ws ? Number((troupe.rate / ws.rate).toFixed(3)) : null;
    log(
      `${SCENARIO}: troupe p99 ${troupe.latency.p99} ms (aim <= ${P99_AIM_MS} ms), ws p99 ${ws?.latency.p99 ?? '-'} ms: ` +
        `troupe/ws p99 ${p99Ratio ?? '-'}x, delivered messages/s ${rateRatio ?? '-'}x; all ok: ${allOk(troupe, subscribers)}`,
    );
    const details: ScenarioResult['details'] = {
      throughputMeasures: 'event messages (transitions and step events) delivered per second, all subscribers: received / (last receive − first transition at)',
      subscribers,
      clientProcesses: procs,
      askedTransitionsPerSec: rate,
      seconds,
      items,
      transitionsPerItem: perItem,
      itemSpacingMs: Number(spacingMs.toFixed(3)),
      producedTransitions: made.transitions,
      producedOverMs: made.spanMs,
      producedTransitionsPerSec: made.perSec,
      producedPeakTransitionsPerSec: made.peakPerSec,
      dueLateP50Ms: measured.late.p50,
      dueLateP99Ms: measured.late.p99,
      dueLateMaxMs: measured.late.max,
      ...runLogDetails(live, sent, troupe.texts, measured),
      p99Ratio,
      rateRatio,
      p99AimMs: P99_AIM_MS,
      rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
      ...roundDetails('troupe', troupe, subscribers),
      ...(ws ? roundDetails('ws', ws, subscribers) : {}),
    };
    return liveResult(SCENARIO, live, items, subscribers, troupe, details);
  } finally {
    await live.close();
  }
});
