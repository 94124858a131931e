/**
 * The parent's side of ws-clients.ts: forks the subscriber processes (advanced IPC serialisation), sends them
 * commands and collects their replies, for ws-fanout.bench.ts.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FromClients, ToClients } from './ws-clients.js';

const REPLY_TIMEOUT_MS = 180_000;

/** The subscriber processes; each reply is routed by kind ('ok' answers a command, 'done' ends a round). */
export class Subscribers {
  private readonly procs: { child: ChildProcess; waiters: Record<'ok' | 'done', ((m: FromClients) => void)[]>; failed: ((e: Error) => void)[] }[];

  /** `sizes[i]`: the sockets process i holds. */
  constructor(private readonly sizes: number[]) {
    const file = fileURLToPath(new URL('./ws-clients.js', import.meta.url));
    this.procs = sizes.map(() => {
      // A --cpu-prof of the scenario profiles the server, not its clients.
      const execArgv = process.execArgv.filter((a) => !a.startsWith('--cpu-prof'));
      const child = fork(file, [], { execArgv, serialization: 'advanced', stdio: ['ignore', 2, 'inherit', 'ipc'] });
      const proc = { child, waiters: { ok: [], done: [] } as Record<'ok' | 'done', ((m: FromClients) => void)[]>, failed: [] as ((e: Error) => void)[] };
      child.on('message', (m: FromClients) => {
        if (m.op === 'error') for (const fail of proc.failed.splice(0)) fail(new Error(`subscriber process: ${m.message}`));
        else proc.waiters[m.op].shift()?.(m);
      });
      return proc;
    });
  }

  /** Waiters for the next reply of `kind` from every process, registered now. */
  next(kind: 'ok' | 'done'): Promise<FromClients[]> {
    return Promise.all(this.procs.map((p) => new Promise<FromClients>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no '${kind}' from a subscriber process in ${REPLY_TIMEOUT_MS} ms`)), REPLY_TIMEOUT_MS).unref();
      p.waiters[kind].push((m) => {
        clearTimeout(timer);
        resolve(m);
      });
      p.failed.push(reject);
    })));
  }

  /** Sends to every process (`each(i)` for process i) and waits for each 'ok'. */
  async all(each: (i: number) => ToClients): Promise<void> {
    const ok = this.next('ok');
    this.procs.forEach((p, i) => p.child.send(each(i)));
    await ok;
  }

  async connect(url: string, headers: Record<string, string>): Promise<void> {
    await this.all((i) => ({ op: 'connect', url, headers, count: this.sizes[i] ?? 0 }));
  }

  close(): void {
    for (const p of this.procs) p.child.disconnect();
  }
}
