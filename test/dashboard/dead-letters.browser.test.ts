import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/chromium.js';
import { Cluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { runningOn, sleepItem } from '../distributed/support.js';
import { liveState, screenshot, signIn, watchPage } from './support.js';

/**
 * Dead letters on the dashboard's Queue page, in distributed mode: a nats-server of its own, `troupe serve
 * --no-workers` and `troupe worker` processes. Two jobs kill every worker that takes them (each worker is
 * SIGKILLed while running them), so after MaxDeliver (2) deliveries the next agent dead-letters both; an
 * admin redrives one and discards the other from the page.
 */

let cluster: Cluster;
beforeAll(async () => {
  cluster = await Cluster.start({ TROUPE_MAX_DELIVER: '2' });
  await cluster.serve();
});
afterAll(async () => {
  await cluster?.[Symbol.asyncDispose]();
});

interface Letter {
  jobId: string;
  executionId: string;
}

describe('dashboard: dead letters', () => {
  it('lists dead letters for an admin; Redrive makes a new execution and Discard drops the letter', async () => {
    const run = await cluster.submit([sleepItem('poison one', 60_000, { requires: { poison: 'yes' } }), sleepItem('poison two', 60_000, { requires: { poison: 'yes' } })]);
    for (const victim of ['p1', 'p2']) {
      await cluster.worker({ id: victim, labels: 'poison=yes', threads: 2 });
      await waitFor(async () => (await runningOn(cluster, victim)) === 2, `both jobs to run on ${victim}`, 30_000);
      await cluster.workers.get(victim)!.kill();
    }
    // Their next delivery would be the third: this agent dead-letters them instead of running them.
    await cluster.worker({ id: 'p3', labels: 'poison=yes', threads: 2 });
    expect(await cluster.finished(run.id)).toMatchObject({ counts: { ABORTED: 2 } });
    const letters = (await cluster.request('GET', '/v1/dead-letters')).body.items as Letter[];
    const [redriven, discarded] = run.executionIds.map((id) => letters.find((l) => l.executionId === id));
    expect(redriven, JSON.stringify(letters)).toBeDefined();
    expect(discarded, JSON.stringify(letters)).toBeDefined();

    await using browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const origin = `http://127.0.0.1:${cluster.port}`;
    const seen = watchPage(page, origin);
    await signIn(page, origin, cluster.token, '#/queue');
    await page.getByRole('heading', { name: 'Queue and workers', exact: true }).waitFor();
    await liveState(page, 'live');
    await page.getByText('p3').first().waitFor(); // the agents list
    await page.getByRole('heading', { name: 'Dead letters' }).waitFor();
    const row = (letter: Letter) => page.locator(`[data-job-id="${letter.jobId}"]`);
    await row(redriven!).waitFor();
    await row(discarded!).waitFor();
    await screenshot(page, 'queue-dead-letters');

    await row(redriven!).getByRole('button', { name: 'Redrive' }).click();
    await row(redriven!).waitFor({ state: 'detached' });
    const rerun = await waitFor(async () => {
      const res = await cluster.request('GET', '/v1/executions?limit=100');
      return (res.body.items as { id: string; rerunOf: string | null }[]).find((e) => e.rerunOf === redriven!.executionId);
    }, 'the redriven execution to be listed');
    expect(rerun.id).not.toBe(redriven!.executionId);

    await row(discarded!).getByRole('button', { name: 'Discard' }).click();
    await row(discarded!).waitFor({ state: 'detached' });
    const left = (await cluster.request('GET', '/v1/dead-letters')).body.items as Letter[];
    expect(left.map((l) => l.jobId)).not.toContain(redriven!.jobId);
    expect(left.map((l) => l.jobId)).not.toContain(discarded!.jobId);
    // Discarding runs nothing again.
    const executions = (await cluster.request('GET', '/v1/executions?limit=100')).body.items as { rerunOf: string | null }[];
    expect(executions.filter((e) => e.rerunOf === discarded!.executionId)).toEqual([]);
    expect(seen.foreign).toEqual([]);
    expect(seen.errors).toEqual([]);

    // Dead letters are an admin's business: a runner's Queue page lists the agents but not the letters.
    const created = await cluster.request('POST', '/v1/keys', { name: 'bob at the dashboard', role: 'runner', owner: 'bob' });
    expect(created.status).toBe(201);
    const runnerPage = await browser.newPage();
    await signIn(runnerPage, origin, created.body.key as string, '#/queue');
    await runnerPage.getByRole('heading', { name: 'Queue and workers', exact: true }).waitFor();
    await runnerPage.getByText('p3').first().waitFor();
    expect(await runnerPage.getByRole('heading', { name: 'Dead letters' }).count()).toBe(0);
    expect(await runnerPage.getByRole('button', { name: 'Redrive' }).count()).toBe(0);
  });
});
