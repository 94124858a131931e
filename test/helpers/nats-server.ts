import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A nats-server with JetStream for one test file: its own free port, its own temporary store dir. Never the
 * system instance on 4222.
 */
export interface NatsServerHandle extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** SIGTERM (the server shuts down cleanly), waits for the exit. Removes the store dir unless `keep`. */
  stop(options?: { keep?: boolean }): Promise<void>;
  /** SIGKILL: a crash. Keeps the store dir so that `restart()` finds the streams again. */
  kill(): Promise<void>;
  /** Starts it again on the same port and store dir (after stop({ keep: true }) or kill()), or stops and starts it. */
  restart(): Promise<void>;
}

export interface NatsServerOptions {
  storeDir?: string;
  port?: number;
  args?: string[];
}

/** The nats-server binary: NATS_SERVER_BIN, else /usr/sbin/nats-server, else `nats-server` on PATH. */
export function natsServerBinary(): string {
  // Tests may read the environment: this is test set-up, not the product's configuration.
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv) return fromEnv;
  if (existsSync('/usr/sbin/nats-server')) return '/usr/sbin/nats-server';
  const which = spawnSync('which', ['nats-server'], { encoding: 'utf8' });
  const found = which.stdout.trim();
  if (which.status === 0 && found) return found;
  throw new Error('nats-server not found: install it or set NATS_SERVER_BIN');
}

/** A port nobody listens on right now: bind port 0, read it, let it go. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Servers still running; killed if the test process exits without stopping them (a crashed file). */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const proc of running) proc.kill('SIGKILL');
});

/** Polls the monitoring endpoint until JetStream is up (`/healthz?js-enabled-only=true` answers 200). */
async function waitHealthy(monitorPort: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`nats-server exited (${child.exitCode ?? child.signalCode}) while starting:\n${log()}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`nats-server did not become healthy within 15 s:\n${log()}`);
    await sleep(25);
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = natsServerBinary();
  const ownDir = options.storeDir === undefined;
  const storeDir = options.storeDir ?? (await mkdtemp(join(tmpdir(), 'troupe-nats-')));
  let port = options.port ?? (await freePort());
  let monitorPort = await freePort();
  let child: ChildProcess | null = null;
  let output = '';

  async function launch(): Promise<void> {
    output = '';
    const args = ['-js', '-a', '127.0.0.1', '-p', String(port), '-m', String(monitorPort), '-sd', storeDir, ...(options.args ?? [])];
    const proc = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8_000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    child = proc;
    try {
      await waitHealthy(monitorPort, proc, () => output);
    } catch (err) {
      proc.kill('SIGKILL');
      await exited(proc);
      child = null;
      throw err;
    }
  }

  async function signal(sig: NodeJS.Signals): Promise<void> {
    const proc = child;
    child = null;
    if (!proc) return;
    const gone = exited(proc);
    proc.kill(sig);
    await gone;
  }

  let removed = false;
  async function cleanUp(): Promise<void> {
    if (removed || !ownDir) return;
    removed = true;
    await rm(storeDir, { recursive: true, force: true });
  }

  // A port found free can be taken by another test file before nats-server binds it: then new ports, a few times.
  for (let tries = 1; ; tries++) {
    try {
      await launch();
      break;
    } catch (err) {
      if (tries === 3 || !output.includes('address already in use')) throw err;
      monitorPort = await freePort();
      if (options.port === undefined) port = await freePort();
    }
  }
  const handle: NatsServerHandle = {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    async stop({ keep = false } = {}) {
      await signal('SIGTERM');
      if (!keep) await cleanUp();
    },
    async kill() {
      await signal('SIGKILL');
    },
    async restart() {
      if (child) await signal('SIGTERM');
      // The monitor port may have been taken meanwhile; the client port must stay the same.
      monitorPort = await freePort();
      await launch();
    },
    async [Symbol.asyncDispose]() {
      await handle.stop();
    },
  };
  return handle;
}
