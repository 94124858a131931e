import { connect, headers as natsHeaders } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { runningOn, sleepItem } from './support.js';

/**
 * Distributed mode over real processes: `troupe serve --no-workers`, two `troupe worker` agents (one with a
 * label) and a nats-server of its own.
 */

/** The agent that reported an execution's result, from its terminal transition. */
async function ranOn(cluster: Cluster, executionId: string): Promise<string> {
  const events = await cluster.events(executionId);
  return events.at(-1)!.actor;
}

let cluster: Cluster;
beforeAll(async () => {
  cluster = await Cluster.start();
  await cluster.serve();
  await cluster.worker({ id: 'plain', threads: 2 });
  await cluster.worker({ id: 'chrome', threads: 2, labels: 'browser=chromium,os=linux' });
});
afterAll(async () => {
  await cluster?.[Symbol.asyncDispose]();
});

describe('distributed mode: agents', () => {
  it('lists both live agents with their capacity, labels, pools and runners', async () => {
    const agents = await waitFor(async () => {
      const res = await cluster.request('GET', '/v1/agents');
      const items = res.body.items as { agentId: string }[];
      return items.length === 2 ? items : null;
    }, 'two agents in /v1/agents');
    expect(agents).toEqual([
      expect.objectContaining({ agentId: 'chrome', status: 'online', capacity: expect.any(Number), labels: { browser: 'chromium', os: 'linux' }, runners: ['GENERIC', 'BDD'] }),
      expect.objectContaining({ agentId: 'plain', status: 'online', labels: {}, pools: ['default'] }),
    ]);
    expect(((await cluster.request('GET', '/v1/agents?limit=1')).body.items as unknown[]).length).toBe(1);
    for (const bad of ['limit=0', 'limit=x', 'cursor=abc', 'status=online']) {
      expect((await cluster.request('GET', `/v1/agents?${bad}`)).status, bad).toBe(400);
    }
  });

  it('spreads a run over both worker processes, every execution PASSED once', async () => {
    const run = await cluster.submit(Array.from({ length: 24 }, (_, i) => sleepItem(`s${i}`, 150)));
    expect(await cluster.finished(run.id)).toMatchObject({ status: 'PASSED', counts: { PASSED: 24 } });
    const agents = await Promise.all(run.executionIds.map((id) => ranOn(cluster, id)));
    expect(new Set(agents)).toEqual(new Set(['worker:plain', 'worker:chrome']));
    for (const id of run.executionIds) {
      const events = await cluster.events(id);
      expect(events.map((e) => e.to)).toEqual(['PENDING', 'RUNNING', 'PASSED']);
    }
  });

  it('routes items that require labels only to agents that have them', async () => {
    const run = await cluster.submit([
      ...Array.from({ length: 8 }, (_, i) => sleepItem(`chromium ${i}`, 100, { requires: { browser: 'chromium' } })),
      ...Array.from({ length: 8 }, (_, i) => sleepItem(`any ${i}`, 100)),
    ]);
    expect(await cluster.finished(run.id)).toMatchObject({ status: 'PASSED' });
    const agents = await Promise.all(run.executionIds.map((id) => ranOn(cluster, id)));
    expect(agents.slice(0, 8)).toEqual(Array(8).fill('worker:chrome'));
    // The chrome agent now serves the requirement pool too (as its next heartbeat says).
    const pools = await waitFor(async () => {
      const agents = (await cluster.request('GET', '/v1/agents')).body.items as { agentId: string; pools: string[] }[];
      const chrome = agents.find((a) => a.agentId === 'chrome')!;
      return chrome.pools.length === 2 ? chrome.pools : null;
    }, 'the chrome agent to announce the requirement pool');
    expect(pools).toEqual(['default', expect.stringMatching(/^default-r[0-9a-f]{16}$/)]);
  });

  it('never hands a job to an agent without the required label: it waits for one', async () => {
    const run = await cluster.submit([sleepItem('firefox', 50, { requires: { browser: 'firefox' } })]);
    const [id] = run.executionIds as [string];
    await waitFor(async () => (await cluster.events(id)).at(-1)!.to === 'RUNNING', 'the job to be dispatched');
    await new Promise((resolve) => setTimeout(resolve, 2500)); // both agents looked for new pools (every 2 s)
    expect((await cluster.events(id)).map((e) => e.to)).toEqual(['PENDING', 'RUNNING']);
    // An agent with the label arrives and takes it.
    await cluster.worker({ id: 'firefox', labels: 'browser=firefox' });
    expect(await cluster.finished(run.id)).toMatchObject({ status: 'PASSED' });
    expect(await ranOn(cluster, id)).toBe('worker:firefox');
    expect(await cluster.workers.get('firefox')!.stop()).toBe(0);
  });

  it('cancel and abort stop jobs running in another process', async () => {
    const agent = await cluster.worker({ id: 'stopper', labels: 'stop=yes', env: { LOGGING_LEVEL: 'debug' } });
    const run = await cluster.submit([sleepItem('cancel me', 60_000, { requires: { stop: 'yes' } }), sleepItem('abort me', 60_000, { requires: { stop: 'yes' } })]);
    const [cancelled, aborted] = run.executionIds as [string, string];
    const logged = (msg: string, executionId: string) =>
      agent.lines
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg: string; jobId?: string; outcome?: string; time: number })
        .find((l) => l.msg === msg && l.jobId?.startsWith(`${executionId}:`));
    await waitFor(() => logged('job taken', cancelled) && logged('job taken', aborted), 'both jobs to run on the agent');
    const asked = Date.now();
    expect((await cluster.request('POST', `/v1/executions/${cancelled}/cancel`)).status).toBe(200);
    expect((await cluster.request('POST', `/v1/executions/${aborted}/abort`)).status).toBe(200);
    // The runners stopped in the worker process: it logs each job finishing as the stop request says.
    const cancelledLine = await waitFor(() => logged('job finished', cancelled), 'the cancelled runner to stop', 10_000);
    const abortedLine = await waitFor(() => logged('job finished', aborted), 'the aborted runner to stop', 10_000);
    expect(cancelledLine.outcome).toBe('CANCELLED');
    expect(['CANCELLED', 'ERROR']).toContain(abortedLine.outcome);
    expect(cancelledLine.time).toBeGreaterThanOrEqual(asked - 1000);
    expect((await cluster.events(cancelled)).map((e) => e.to)).toEqual(['PENDING', 'RUNNING', 'CANCELLED']);
    expect((await cluster.events(aborted)).map((e) => e.to)).toEqual(['PENDING', 'RUNNING', 'ABORTED']);
    expect(await agent.stop()).toBe(0);
  });

  it('troupe.api.submit takes the POST /v1/runs body and answers like the API', async () => {
    const nc = await connect({ servers: cluster.nats.url });
    try {
      const ask = async (body: unknown, authorization?: string) => {
        const h = natsHeaders();
        if (authorization !== undefined) h.set('Authorization', authorization);
        const reply = await nc.request('troupe.api.submit', typeof body === 'string' ? body : JSON.stringify(body), {
          timeout: 10_000,
          headers: h,
        });
        return { status: Number(reply.headers?.get('Troupe-Status')), body: reply.json<Record<string, unknown>>() };
      };
      const ok = await ask({ items: [sleepItem('over nats', 10)] }, `Bearer ${cluster.token}`);
      expect(ok).toEqual({ status: 201, body: { id: expect.stringMatching(/^run_/), status: 'PENDING', executionIds: [expect.any(String)] } });
      expect(await cluster.finished(ok.body.id as string)).toMatchObject({ status: 'PASSED' });

      const invalid = await ask({ items: [{ name: 'x', type: 'GENERIC', steps: [{ action: 'dance' }] }] }, `Bearer ${cluster.token}`);
      expect(invalid.status).toBe(400);
      expect(invalid.body).toEqual({ error: { code: expect.stringMatching(/VALIDATION_FAILED|UNKNOWN_RUNNER/), message: expect.any(String), details: expect.anything() } });
      expect(await ask('{not json', `Bearer ${cluster.token}`)).toMatchObject({ status: 400, body: { error: { code: 'MALFORMED_JSON' } } });
      expect(await ask({ items: [sleepItem('x', 1)] })).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHENTICATED' } } });
      expect(await ask({ items: [sleepItem('x', 1)] }, 'Bearer troupe_wrong')).toMatchObject({ status: 401 });
    } finally {
      await nc.close();
    }
  });

  it('a worker leaving on SIGTERM finishes its running job, says goodbye and exits 0', async () => {
    const leaving = await cluster.worker({ id: 'leaver', threads: 1, labels: 'leaver=yes' });
    const run = await cluster.submit([sleepItem('finish me', 1500, { requires: { leaver: 'yes' } })]);
    const [id] = run.executionIds as [string];
    await waitFor(async () => (await runningOn(cluster, 'leaver')) === 1, 'the job to run on the leaving agent');
    expect(await leaving.stop()).toBe(0);
    expect(await cluster.finished(run.id)).toMatchObject({ status: 'PASSED' });
    expect(await ranOn(cluster, id)).toBe('worker:leaver');
    await waitFor(async () => {
      const agents = (await cluster.request('GET', '/v1/agents')).body.items as { agentId: string }[];
      return !agents.some((a) => a.agentId === 'leaver');
    }, 'the agent to drop off the list');
  });

  it('a worker whose drain period runs out hands its job back; another agent runs it', async () => {
    const quick = await cluster.worker({ id: 'quick', threads: 1, labels: 'handoff=yes', args: ['--drain', '1'], env: { LOGGING_LEVEL: 'debug' } });
    const run = await cluster.submit([sleepItem('hand me back', 4000, { requires: { handoff: 'yes' } })]);
    const [id] = run.executionIds as [string];
    await waitFor(async () => (await runningOn(cluster, 'quick')) === 1, 'the job to run on the agent');
    expect(await quick.stop()).toBe(0);
    const taker = await cluster.worker({ id: 'taker', threads: 1, labels: 'handoff=yes', env: { LOGGING_LEVEL: 'debug' } });
    expect(await cluster.finished(run.id)).toMatchObject({ status: 'PASSED' });
    expect(await ranOn(cluster, id)).toBe('worker:taker');
    const events = await cluster.events(id);
    expect(events.map((e) => e.to)).toEqual(['PENDING', 'RUNNING', 'PASSED']);
    // The leaving agent took the job and handed it back; the taker ran it to the end.
    const logged = (lines: string[], msg: string) =>
      lines.map((l) => (l.startsWith('{') ? (JSON.parse(l) as { msg: string; jobId?: string }) : null)).filter((l) => l?.msg === msg && l.jobId === `${id}:2`);
    expect(logged(quick.lines, 'job taken'), quick.lines.join('\n')).toHaveLength(1);
    expect(logged(quick.lines, 'job handed back'), quick.lines.join('\n')).toHaveLength(1);
    expect(logged(taker.lines, 'job taken'), taker.lines.join('\n')).toHaveLength(1);
    expect(await cluster.workers.get('taker')!.stop()).toBe(0);
  });
});
