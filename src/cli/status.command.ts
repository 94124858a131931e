import { join } from 'node:path';
import { loadConfig } from '../core/config.js';
import { TroupeError } from '../core/errors.js';
import { SqliteStore } from '../store/sqlite.store.js';
import { statusExitCode } from './summary.js';

/** `troupe status <id>`: an execution's or a run's status from the embedded store. */
export async function statusCommand(id: string): Promise<number> {
  const config = loadConfig();
  const store = new SqliteStore({ file: join(config.TROUPE_DATA_DIR, 'troupe.db') });
  try {
    if (id.startsWith('run_')) {
      const run = await store.getRun(id);
      if (!run) throw new TroupeError('NOT_FOUND', `run ${id} not found in ${config.TROUPE_DATA_DIR}`);
      const counts = await store.runCounts(id);
      process.stdout.write(`${JSON.stringify({ id: run.id, name: run.name, status: run.status, total: run.total, counts }, null, 2)}\n`);
      return statusExitCode(run.status);
    }
    const execution = await store.getExecution(id);
    if (!execution) throw new TroupeError('NOT_FOUND', `execution ${id} not found in ${config.TROUPE_DATA_DIR}`);
    const { machine: _m, item: _i, ...shown } = execution;
    process.stdout.write(`${JSON.stringify({ ...shown, events: await store.listEvents(id) }, null, 2)}\n`);
    return statusExitCode(execution.status);
  } finally {
    await store.close();
  }
}
