import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { LiveClient } from './live.helpers.js';

/** MANUAL verdicts over HTTP (`POST /v1/executions/:id/steps/:n/verdict`) and over the live channel. */

const manual = {
  name: 'checkout by hand',
  type: 'MANUAL',
  steps: [
    { instruction: 'Add an item to the cart', expected: 'The cart shows 1 item' },
    { instruction: 'Pay with the test card', expected: 'A receipt is shown' },
  ],
};

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ WEBSOCKET_HEARTBEAT_INTERVAL: '1' }, { pool: false });
});
afterAll(async () => {
  await s?.[Symbol.asyncDispose]();
});

async function pausedExecution(token: string): Promise<string> {
  const res = await s.request('POST', '/v1/executions', { token, body: manual });
  expect(res.status, res.text).toBe(201);
  const id = res.body.id as string;
  await waitFor(async () => (await s.request('GET', `/v1/executions/${id}`, { token })).body.status === 'PAUSED', 'the pause');
  return id;
}

describe('MANUAL verdicts over HTTP', () => {
  it('records each verdict and answers once the execution has moved on', async () => {
    const token = await s.token('mia', ['runner']);
    const id = await pausedExecution(token);
    const first = await s.request('POST', `/v1/executions/${id}/steps/0/verdict`, { token, body: { verdict: 'passed', comment: 'cart ok' } });
    expect(first.status, first.text).toBe(200);
    expect(first.body).toMatchObject({ id, status: 'PAUSED' });
    const last = await s.request('POST', `/v1/executions/${id}/steps/1/verdict`, { token, body: { verdict: 'passed' } });
    expect(last.body).toMatchObject({ id, status: 'PASSED' });
    const steps = await s.request('GET', `/v1/executions/${id}/steps`, { token });
    expect(steps.body.items).toEqual([
      expect.objectContaining({ index: 0, name: 'Add an item to the cart', status: 'PASSED', output: 'cart ok' }),
      expect.objectContaining({ index: 1, name: 'Pay with the test card', status: 'PASSED' }),
    ]);
  });

  it('answers bad verdicts with 4xx and changes nothing', async () => {
    const token = await s.token('ned', ['runner']);
    const id = await pausedExecution(token);
    const post = (path: string, body: unknown, as = token) => s.request('POST', path, { token: as, body });
    const expectError = async (path: string, body: unknown, status: number, code: string, as = token) => {
      const res = await post(path, body, as);
      expect(res.status, res.text).toBe(status);
      expect(res.body).toMatchObject({ error: { code } });
    };
    await expectError(`/v1/executions/${id}/steps/1/verdict`, { verdict: 'passed' }, 409, 'ILLEGAL_TRANSITION');
    await expectError(`/v1/executions/${id}/steps/9/verdict`, { verdict: 'passed' }, 400, 'VALIDATION_FAILED');
    await expectError(`/v1/executions/${id}/steps/-1/verdict`, { verdict: 'passed' }, 400, 'VALIDATION_FAILED');
    await expectError(`/v1/executions/${id}/steps/x/verdict`, { verdict: 'passed' }, 400, 'VALIDATION_FAILED');
    await expectError(`/v1/executions/${id}/steps/0/verdict`, { verdict: 'ok' }, 400, 'VALIDATION_FAILED');
    await expectError(`/v1/executions/${id}/steps/0/verdict`, {}, 400, 'VALIDATION_FAILED');
    await expectError(`/v1/executions/${id}/steps/0/verdict`, { verdict: 'passed' }, 404, 'NOT_FOUND', await s.token('eve', ['runner']));
    await expectError(`/v1/executions/${id}/steps/0/verdict`, { verdict: 'passed' }, 403, 'FORBIDDEN', await s.token('ned', ['viewer']));
    const steps = await s.request('GET', `/v1/executions/${id}/steps`, { token });
    expect(steps.body.items).toEqual([]);
    expect((await s.request('GET', `/v1/executions/${id}`, { token })).body.status).toBe('PAUSED');
  });
});

describe('MANUAL verdicts over the live channel', () => {
  it('takes a verdict op, answers it, and broadcasts the step to the execution’s subscribers', async () => {
    const token = await s.token('liv', ['runner']);
    const id = await pausedExecution(token);
    const tester = await LiveClient.connect(s.wsUrl, { header: token });
    const watcher = await LiveClient.connect(s.wsUrl, { header: await s.token('root', ['admin']) });
    await watcher.subscribe([`execution:${id}`]);
    tester.send({ op: 'verdict', executionId: id, index: 0, verdict: 'failed', comment: 'cart stays empty' });
    expect(await tester.next((m) => (m as { op?: string }).op === 'verdict', 'the verdict answer')).toEqual({
      op: 'verdict',
      executionId: id,
      index: 0,
      status: 'FAILED',
    });
    const step = await watcher.next((m) => m.event?.type === 'step', 'the step event');
    expect(step.event).toMatchObject({ type: 'step', executionId: id, index: 0, name: 'Add an item to the cart', status: 'FAILED', output: 'cart stays empty' });
    await watcher.next((m) => m.event?.to === 'FAILED', 'the FAILED transition');

    tester.send({ op: 'verdict', executionId: id, index: 1, verdict: 'passed' });
    expect(await tester.next((m) => m.op === 'error', 'the refusal')).toMatchObject({
      op: 'error',
      error: { code: 'ILLEGAL_TRANSITION' },
    });
    tester.send({ op: 'verdict', executionId: id, index: 0, verdict: 'nope' });
    expect(await tester.next((m) => m.op === 'error' && m.error?.code === 'VALIDATION_FAILED', 'the validation error')).toBeDefined();
    tester.close();
    watcher.close();
  });
});
