import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** utime + stime of a Linux process (all its threads), assuming the usual 100 clock ticks per second; null off Linux. */
export function procCpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}

/** CPU of several processes together since the `before` readings; null when any is unreadable. */
export function cpuDelta(before: (number | null)[], after: (number | null)[]): number | null {
  let total = 0;
  for (const [i, b] of before.entries()) {
    const a = after[i];
    if (a === null || a === undefined || b === null) return null;
    total += a - b;
  }
  return total;
}

/** A TCP port free right now on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no TCP port assigned');
  return address.port;
}
