/**
 * Starts a throw-away `nats-server -js` for the distributed scenarios: a free port on 127.0.0.1, a fresh
 * temporary store dir (removed when it stops), ready once its monitoring `/healthz` answers. Never the
 * system instance on 4222. The minimum of test/helpers/nats-server.ts (which is not built into dist/).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, procCpuMs } from './proc.js';

export interface NatsServer extends AsyncDisposable {
  url: string;
  version: string;
  /** CPU time the server has used so far (user + system, ms); null where /proc is not available. */
  cpuMs(): number | null;
  /** Messages the server has received from and sent to clients so far (its monitoring `/varz`). */
  messages(): Promise<{ in: number; out: number }>;
}

/** The nats-server binary (NATS_SERVER_BIN, /usr/sbin/nats-server or PATH) and its version, or null. */
export function natsServer(): { binary: string; version: string } | null {
  const candidates = [process.env.NATS_SERVER_BIN, '/usr/sbin/nats-server', 'nats-server'].filter(
    (c): c is string => c !== undefined && c !== '' && (c === 'nats-server' || existsSync(c)),
  );
  for (const binary of candidates) {
    const probe = spawnSync(binary, ['--version'], { encoding: 'utf8' });
    if (!probe.error && probe.status === 0) return { binary, version: /\bv(\d\S*)/.exec(probe.stdout)?.[1] ?? probe.stdout.trim() };
  }
  return null;
}

async function waitHealthy(monitorPort: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nats-server exited while starting:\n${output()}`);
    try {
      if ((await fetch(`http://127.0.0.1:${monitorPort}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`nats-server not healthy within 15 s:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export async function startNats(found: { binary: string; version: string }): Promise<NatsServer> {
  const [port, monitorPort] = [await freePort(), await freePort()];
  const storeDir = await mkdtemp(join(tmpdir(), 'troupe-bench-nats-'));
  const args = ['-js', '-a', '127.0.0.1', '-p', String(port), '-m', String(monitorPort), '-sd', storeDir];
  const child = spawn(found.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-8_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    await rm(storeDir, { recursive: true, force: true });
  };
  try {
    await waitHealthy(monitorPort, child, () => output);
  } catch (err) {
    child.kill('SIGKILL');
    await stop();
    throw err;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    version: found.version,
    cpuMs: () => procCpuMs(child.pid),
    messages: async () => {
      const varz = (await (await fetch(`http://127.0.0.1:${monitorPort}/varz`)).json()) as { in_msgs: number; out_msgs: number };
      return { in: varz.in_msgs, out: varz.out_msgs };
    },
    [Symbol.asyncDispose]: stop,
  };
}
