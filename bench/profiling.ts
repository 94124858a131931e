/**
 * A CPU profile of this process's main thread over one measured round, when BENCH_CPU_PROFILE names a file:
 * the round alone, without start-up, warm-up or the peer (which runs in the same process). Read it with
 * `node dist/bench/cpu-profile.js <file>`.
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { log } from './common.js';

/** Starts profiling if BENCH_CPU_PROFILE is set; the returned function stops and writes the profile. */
export async function profileRound(scenario: string): Promise<() => Promise<void>> {
  const file = process.env.BENCH_CPU_PROFILE;
  if (file === undefined || file === '') return () => Promise.resolve();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    await writeFile(file, JSON.stringify(profile));
    log(`${scenario}: CPU profile of the measured round written to ${file}`);
  };
}
