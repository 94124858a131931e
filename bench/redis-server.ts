/**
 * Starts a throw-away `redis-server` on a free port for the BullMQ peers: without persistence, or with an
 * append-only file fsynced on every write (in a fresh temporary directory, removed when it stops).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, procCpuMs } from './proc.js';

/** `none`: `--save '' --appendonly no`. `aof`: `--save '' --appendonly yes --appendfsync always`. */
export type RedisPersistence = 'none' | 'aof';

export const PERSISTENCE_ARGS: Record<RedisPersistence, string[]> = {
  none: ['--save', '', '--appendonly', 'no'],
  aof: ['--save', '', '--appendonly', 'yes', '--appendfsync', 'always'],
};

export interface RedisServer {
  host: string;
  port: number;
  version: string;
  persistence: RedisPersistence;
  /** CPU time the server has used so far (user + system, ms); null where /proc is not available. */
  cpuMs(): number | null;
  /** Bytes of the files in its data directory (the append-only file); null without persistence. */
  dataBytes(): Promise<number | null>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** The installed redis-server version, or null when it is not on PATH. */
export function redisVersion(): string | null {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return null;
  return /v=(\S+)/.exec(probe.stdout)?.[1] ?? probe.stdout.trim();
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

/** Total size of the regular files under `dir` (Redis 7 keeps the AOF in `<dir>/appendonlydir/`). */
async function bytesUnder(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await bytesUnder(path);
    else if (entry.isFile()) total += (await stat(path)).size;
  }
  return total;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

export async function startRedis(version: string, persistence: RedisPersistence = 'none'): Promise<RedisServer> {
  const port = await freePort();
  const dir = persistence === 'none' ? null : await mkdtemp(join(tmpdir(), 'troupe-bench-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', ...PERSISTENCE_ARGS[persistence], '--daemonize', 'no'];
  if (dir !== null) args.push('--dir', dir);
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const cleanup = async (): Promise<void> => {
    await stop(child);
    if (dir !== null) await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitReady(child, 10_000);
  } catch (err) {
    child.kill('SIGKILL');
    await cleanup();
    throw err;
  }
  child.stdout?.resume(); // keep draining its log so it never blocks on a full pipe
  return {
    host: '127.0.0.1',
    port,
    version,
    persistence,
    cpuMs: () => procCpuMs(child.pid),
    dataBytes: () => (dir === null ? Promise.resolve(null) : bytesUnder(dir)),
    [Symbol.asyncDispose]: cleanup,
  };
}
