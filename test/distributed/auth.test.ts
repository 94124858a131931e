import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { troupe } from '../helpers/cluster.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';

/**
 * Agents authenticating to NATS (AGENT_AUTHENTICATION_REQUIRED, docs/nats.md): against a nats-server that
 * requires a user and password, a worker without credentials is refused at start with a clear message (exit 2),
 * one with a wrong password cannot connect (exit 1), and one with the right credentials runs.
 */

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer({ args: ['--user', 'agent', '--pass', 's3cret-agent-password'] });
});
afterAll(async () => {
  await nats?.stop();
});

const base = () => ({ NATS_URL: nats.url, AGENT_AUTHENTICATION_REQUIRED: 'true', QUEUE_WORKER_COUNT: '1', TROUPE_AGENT_ID: 'auth-test' });

describe('distributed mode: agent authentication', () => {
  it('refuses to start a worker without credentials when AGENT_AUTHENTICATION_REQUIRED is set', async () => {
    const worker = troupe(['worker'], base());
    expect(await worker.exit).toBe(2);
    expect(worker.lines.join('\n')).toMatch(/AGENT_AUTHENTICATION_REQUIRED is set: give NATS credentials/);
  });

  it('a worker with a wrong password cannot connect: BUS_UNAVAILABLE, exit 1', async () => {
    const worker = troupe(['worker'], { ...base(), NATS_USER: 'agent', NATS_PASSWORD: 'wrong' });
    expect(await worker.exit).toBe(1);
    expect(worker.lines.join('\n')).toMatch(/cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+/);
  });

  it('a worker with the right credentials starts, and leaves cleanly on SIGTERM', async () => {
    const worker = troupe(['worker'], { ...base(), NATS_USER: 'agent', NATS_PASSWORD: 's3cret-agent-password' });
    // SIGTERM the moment the ready line arrives, as a supervisor would: from then on the worker must handle it
    // (leave and exit 0), never be killed by the signal (exit code null).
    let out = '';
    const ready = new Promise<boolean>((resolve) => {
      worker.child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('troupe worker auth-test: ')) resolve(worker.child.kill('SIGTERM'));
      });
      void worker.exit.then(() => resolve(false));
    });
    expect(await ready, worker.lines.join('\n')).toBe(true);
    expect(await worker.exit, worker.lines.join('\n')).toBe(0);
    expect(worker.child.signalCode).toBeNull();
  });

  it('troupe worker without NATS_URL says what is missing (exit 2)', async () => {
    const worker = troupe(['worker'], { NATS_URL: '', QUEUE_WORKER_COUNT: '1' });
    expect(await worker.exit).toBe(2);
    expect(worker.lines.join('\n')).toMatch(/troupe worker needs NATS_URL/);
  });

  it('bad worker options are refused with a clear message (exit 2)', async () => {
    const labels = troupe(['worker', '--labels', 'no-equals-sign'], base());
    expect(await labels.exit).toBe(2);
    expect(labels.lines.join('\n')).toMatch(/TROUPE_AGENT_LABELS: must be key=value pairs/);
    const drain = troupe(['worker', '--drain', 'soon'], { ...base(), NATS_USER: 'agent', NATS_PASSWORD: 's3cret-agent-password' });
    expect(await drain.exit).toBe(2);
    expect(drain.lines.join('\n')).toMatch(/--drain must be a whole number/);
  });
});
