import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/log.js';
import { createEngine, type Engine, type EngineOverrides } from '../../src/engine/create-engine.js';
import type { TransitionEvent } from '../../src/bus/bus.port.js';

export { waitFor } from './wait.js';

export const ADMIN = { id: 'alice', roles: ['admin'] as const };

export const FIXTURE_WORKER = join(import.meta.dirname, '..', 'fixtures', 'failure-modes.worker.mjs');

export interface TestEngine extends AsyncDisposable {
  engine: Engine;
  dir: string;
  events: TransitionEvent[];
}

export function tempDir(prefix = 'troupe-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** An embedded engine on a fresh data dir, recording every published transition. */
export async function startEngine(
  env: Record<string, string> = {},
  overrides: EngineOverrides = {},
  dir = tempDir(),
): Promise<TestEngine> {
  const config = loadConfig({ TROUPE_DATA_DIR: dir, LOGGING_LEVEL: 'silent', TROUPE_STORE_SYNC: 'NORMAL', ...env });
  const engine = await createEngine(config, createLogger('silent'), overrides);
  const events: TransitionEvent[] = [];
  engine.bus.subscribeTransitions((event) => events.push(event));
  return {
    engine,
    dir,
    events,
    async [Symbol.asyncDispose]() {
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function item(name: string, steps: unknown[] = [{ action: 'noop' }], extra: Record<string, unknown> = {}) {
  return { name, type: 'GENERIC', steps, ...extra };
}
