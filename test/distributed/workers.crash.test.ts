import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { expectOnceTerminal, sleepItem, runningOn } from './support.js';

/**
 * Worker processes dying: `kill -9` mid-run redelivers their jobs; a job that kills every worker that takes
 * it is dead-lettered and its execution ABORTED; a slow runner that keeps its lease is never redelivered.
 * MaxDeliver is 2 here, the ack wait 2 s.
 */

let cluster: Cluster;
beforeAll(async () => {
  cluster = await Cluster.start({ TROUPE_MAX_DELIVER: '2' });
  await cluster.serve();
});
afterAll(async () => {
  await cluster?.[Symbol.asyncDispose]();
});

describe('distributed mode: worker crashes', () => {
  it('kill -9 of a worker mid-run: its jobs are redelivered and every execution ends terminal exactly once', async () => {
    const doomed = await cluster.worker({ id: 'doomed', labels: 'crash=yes' });
    await cluster.worker({ id: 'survivor', labels: 'crash=yes' });
    const run = await cluster.submit(Array.from({ length: 30 }, (_, i) => sleepItem(`c${i}`, 1500, { requires: { crash: 'yes' } })));
    await waitFor(async () => (await runningOn(cluster, 'doomed')) > 0 && (await runningOn(cluster, 'survivor')) > 0, 'both agents running jobs');
    await doomed.kill();
    expect(await cluster.finished(run.id)).toMatchObject({ status: 'PASSED', counts: { PASSED: 30 } });
    const reasons: (string | null)[] = [];
    for (const id of run.executionIds) {
      const events = await expectOnceTerminal(cluster, id);
      expect(events.map((e) => e.to)).toEqual(['PENDING', 'RUNNING', 'PASSED']);
      reasons.push(events.at(-1)!.reason);
    }
    // The doomed agent's jobs were run again by the survivor, each on its second delivery.
    expect(reasons.filter((r) => r !== null && /delivery 2 of the job/.test(r)).length).toBeGreaterThan(0);
    await cluster.workers.get('survivor')!.stop();
  });

  it('a job whose workers all die is dead-lettered after MaxDeliver deliveries, ends ABORTED, and can be redriven', async () => {
    const run = await cluster.submit([sleepItem('poison', 6000, { requires: { poison: 'yes' } })]);
    const [id] = run.executionIds as [string];
    for (const victim of ['p1', 'p2']) {
      const proc = await cluster.worker({ id: victim, labels: 'poison=yes' });
      await waitFor(async () => (await runningOn(cluster, victim)) === 1, `the job to run on ${victim}`);
      await proc.kill();
    }
    // The next delivery would be the third: the next agent dead-letters it instead of running it.
    await cluster.worker({ id: 'p3', labels: 'poison=yes' });
    expect(await cluster.finished(run.id)).toMatchObject({ status: 'FAILED', counts: { ABORTED: 1 } });
    const events = await expectOnceTerminal(cluster, id);
    expect(events.at(-1)).toMatchObject({ to: 'ABORTED', actor: 'engine', reason: 'job dead-lettered after 2 deliveries' });

    const letters = (await cluster.request('GET', '/v1/dead-letters')).body.items as Record<string, unknown>[];
    expect((await cluster.request('GET', '/v1/dead-letters?limit=1')).body.items).toEqual(letters.slice(0, 1));
    expect((await cluster.request('GET', '/v1/dead-letters?limit=1001')).status).toBe(400);
    const letter = letters.find((l) => l.executionId === id);
    expect(letter).toEqual({
      jobId: `${id}:2`,
      executionId: id,
      runId: run.id,
      pool: expect.stringMatching(/^default-r/),
      attempt: 1,
      name: 'poison',
      deliveries: 2,
      deadAt: expect.any(String),
      reason: expect.any(String),
    });

    const redriven = await cluster.request('POST', `/v1/dead-letters/${encodeURIComponent(`${id}:2`)}/redrive`);
    expect(redriven.status).toBe(201);
    expect(redriven.body).toMatchObject({ rerunOf: id, status: expect.any(String) });
    expect(((await cluster.request('GET', '/v1/dead-letters')).body.items as unknown[]).length).toBe(letters.length - 1);
    const again = redriven.body.id as string;
    await waitFor(async () => (await cluster.events(again)).at(-1)!.to === 'PASSED', 'the redriven execution to pass on p3', 30_000);
    expect((await cluster.events(again)).at(-1)!.actor).toBe('worker:p3');

    // Nothing left to redrive or discard for that job.
    expect((await cluster.request('POST', `/v1/dead-letters/${encodeURIComponent(`${id}:2`)}/redrive`)).status).toBe(404);
    expect((await cluster.request('DELETE', `/v1/dead-letters/${encodeURIComponent(`${id}:2`)}`)).status).toBe(404);
    const audit = (await cluster.request('GET', '/v1/audit')).body.items as { action: string; target: string }[];
    expect(audit.some((a) => a.action === 'REDRIVE' && a.target === `${id}:2`)).toBe(true);
    await cluster.workers.get('p3')!.stop();
  });

  it('a slow runner that keeps extending its lease is not redelivered', async () => {
    await cluster.worker({ id: 'slowpoke', labels: 'slow=yes' });
    // 3.5 ack waits long.
    const run = await cluster.submit([sleepItem('slow', 7000, { requires: { slow: 'yes' } })]);
    expect(await cluster.finished(run.id)).toMatchObject({ status: 'PASSED' });
    const events = await expectOnceTerminal(cluster, run.executionIds[0]!);
    expect(events.at(-1)).toMatchObject({ to: 'PASSED', actor: 'worker:slowpoke', reason: null });
    await cluster.workers.get('slowpoke')!.stop();
  });
});
