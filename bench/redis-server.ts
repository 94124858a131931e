/**
 * Starts a throw-away `redis-server` on a free port, without persistence, for the BullMQ peer.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export interface RedisServer {
  host: string;
  port: number;
  version: string;
  /** CPU time the server has used so far (user + system, ms); null where /proc is not available. */
  cpuMs(): number | null;
  [Symbol.asyncDispose](): Promise<void>;
}

/** The installed redis-server version, or null when it is not on PATH. */
export function redisVersion(): string | null {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return null;
  return /v=(\S+)/.exec(probe.stdout)?.[1] ?? probe.stdout.trim();
}

/** utime + stime of a Linux process, assuming the usual 100 clock ticks per second. */
function procCpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no TCP port assigned');
  return address.port;
}

function waitReady(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => fail(new Error(`redis-server not ready after ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        cleanup();
        resolve();
      }
    };
    const onExit = (code: number | null): void => fail(new Error(`redis-server exited (${code}) before ready:\n${output}`));
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
    };
    const fail = (err: Error): void => {
      cleanup();
      reject(err);
    };
    child.stdout?.on('data', onData);
    child.on('exit', onExit);
  });
}

export async function startRedis(version: string): Promise<RedisServer> {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await waitReady(child, 10_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  child.stdout?.resume(); // keep draining its log so it never blocks on a full pipe
  return {
    host: '127.0.0.1',
    port,
    version,
    cpuMs: () => procCpuMs(child.pid),
    async [Symbol.asyncDispose]() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}
