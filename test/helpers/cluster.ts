import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './engine.js';
import { freePort, startNatsServer, type NatsServerHandle } from './nats-server.js';
import { waitFor } from './wait.js';

/**
 * Distributed mode over real processes: a nats-server of its own, `troupe serve --no-workers` (API and
 * coordinator) and any number of `troupe worker` agents, each a child process that can be SIGKILLed and
 * started again.
 */

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'troupe.js');

export interface Proc {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly exit: Promise<number | null>;
  /** SIGKILL, waits for the exit. */
  kill(): Promise<void>;
  /** SIGTERM, waits for the exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Processes still running; killed if the test process exits without stopping them. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export function troupe(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, LOGGING_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const lines: string[] = [];
  const collect = (stream: NodeJS.ReadableStream) => {
    let buffer = '';
    stream.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      lines.push(...parts);
    });
  };
  collect(child.stdout);
  collect(child.stderr);
  const exit = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  return {
    child,
    lines,
    exit,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exit;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exit;
    },
  };
}

async function lineMatching(proc: Proc, pattern: RegExp, what: string, timeoutMs = 30_000): Promise<RegExpExecArray> {
  return waitFor(
    () => {
      if (proc.child.exitCode !== null) throw new Error(`${what}: the process exited ${proc.child.exitCode}:\n${proc.lines.join('\n')}`);
      for (const line of proc.lines) {
        const match = pattern.exec(line);
        if (match) return match;
      }
      return null;
    },
    what,
    timeoutMs,
  );
}

export interface WorkerSpec {
  id: string;
  labels?: string;
  threads?: number;
  env?: Record<string, string>;
  args?: string[];
}

export interface ApiResponse {
  status: number;
  body: Record<string, unknown>;
}

export class Cluster implements AsyncDisposable {
  server: Proc | null = null;
  port = 0;
  token = '';
  readonly workers = new Map<string, Proc>();

  private constructor(
    readonly nats: NatsServerHandle,
    readonly dataDir: string,
    readonly env: Record<string, string>,
  ) {}

  /** A nats-server and the shared settings; start the coordinator and workers with `serve()` and `worker()`. */
  static async start(env: Record<string, string> = {}): Promise<Cluster> {
    const nats = await startNatsServer();
    return new Cluster(nats, tempDir('troupe-cluster-'), {
      NATS_URL: nats.url,
      HEALTH_CHECK_INTERVAL: '1',
      TROUPE_ACK_WAIT_SECONDS: '2',
      EXECUTION_RETRY_DELAY_SECONDS: '0',
      API_RATE_LIMIT_PER_MINUTE: '100000',
      TROUPE_STORE_SYNC: 'NORMAL',
      ...env,
    });
  }

  /** `troupe serve --no-workers` on the cluster's data dir; the first start prints the admin key. */
  async serve(env: Record<string, string> = {}): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    const server = troupe(['serve', '--no-workers'], { ...this.env, TROUPE_DATA_DIR: this.dataDir, PORT: String(this.port), ...env });
    this.server = server;
    await lineMatching(server, /troupe serving on /, 'the server to listen');
    if (this.token === '') {
      const key = server.lines.find((l) => /^\s+troupe_\S+$/.test(l));
      if (!key) throw new Error(`no admin key printed:\n${server.lines.join('\n')}`);
      this.token = key.trim();
    }
  }

  /** A `troupe worker` agent; resolves once it is pulling. */
  async worker(spec: WorkerSpec): Promise<Proc> {
    const proc = troupe(['worker', ...(spec.args ?? [])], {
      ...this.env,
      TROUPE_AGENT_ID: spec.id,
      QUEUE_WORKER_COUNT: String(spec.threads ?? 1),
      ...(spec.labels === undefined ? {} : { TROUPE_AGENT_LABELS: spec.labels }),
      ...spec.env,
    });
    this.workers.set(spec.id, proc);
    await lineMatching(proc, new RegExp(`^troupe worker ${spec.id}: `), `worker ${spec.id} to start`);
    return proc;
  }

  async request(method: string, path: string, body?: unknown): Promise<ApiResponse> {
    const res = await fetch(`http://127.0.0.1:${this.port}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
  }

  async submit(items: unknown[], extra: Record<string, unknown> = {}): Promise<{ id: string; executionIds: string[] }> {
    const res = await this.request('POST', '/v1/runs', { items, ...extra });
    if (res.status !== 201) throw new Error(`submit answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body as { id: string; executionIds: string[] };
  }

  async run(id: string): Promise<{ status: string; counts: Record<string, number> }> {
    return (await this.request('GET', `/v1/runs/${id}`)).body as { status: string; counts: Record<string, number> };
  }

  /** Waits until the run is no longer PENDING or RUNNING; returns its final view. */
  async finished(id: string, timeoutMs = 60_000): Promise<{ status: string; counts: Record<string, number> }> {
    return waitFor(
      async () => {
        const run = await this.run(id).catch(() => null);
        return run && run.status !== 'PENDING' && run.status !== 'RUNNING' ? run : null;
      },
      `run ${id} to finish`,
      timeoutMs,
    );
  }

  async events(executionId: string): Promise<{ seq: number; from: string | null; to: string; actor: string; reason: string | null }[]> {
    const res = await this.request('GET', `/v1/executions/${executionId}/events`);
    return res.body.items as { seq: number; from: string | null; to: string; actor: string; reason: string | null }[];
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all([...this.workers.values()].map((w) => w.kill()));
    await this.server?.kill();
    await this.nats.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
