/**
 * Builds the step registry a BDD execution matches against: the built-in HTTP steps plus every module in
 * TROUPE_BDD_STEPS_DIR. Loaded once per worker thread and steps directory (module imports are cached by
 * Node anyway, so a changed module needs a restart).
 */
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defineHttpSteps } from './http-steps.js';
import { StepRegistry, type StepLibrary } from './steps.js';
import { StepFailure } from './world.js';
import { withTimeout } from '../../core/timeout.js';

const MODULE_FILE = /\.(m?js|cjs)$/;

/** A steps directory that cannot be loaded: every BDD execution on this worker ends in ERROR, not retried. */
export class StepLibraryError extends Error {
  override readonly name = 'StepLibraryError';
}

function fail(message: string): never {
  throw new StepFailure(message);
}

async function loadModules(registry: StepRegistry, dir: string): Promise<void> {
  const absolute = resolve(dir);
  let files: string[];
  try {
    files = (await readdir(absolute)).filter((f) => MODULE_FILE.test(f) && !f.startsWith('.')).sort();
  } catch (err) {
    throw new StepLibraryError(`TROUPE_BDD_STEPS_DIR ${absolute} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  for (const file of files) {
    const path = join(absolute, file);
    try {
      const mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
      if (typeof mod.default !== 'function') throw new Error('its default export is not a function (export default function (steps) { … })');
      await (mod.default as (steps: StepLibrary) => unknown)(registry.libraryFor(path, fail));
    } catch (err) {
      throw new StepLibraryError(`step module ${path} failed to load: ${(err as Error).message}`, { cause: err });
    }
  }
}

const loaded = new Map<string, Promise<StepRegistry>>();
/** How long loading the step-definition modules may take. */
const LOAD_TIMEOUT_MS = 30_000;

/** The registry for a steps directory (or the built-in steps alone), loaded once and shared. */
export function stepRegistry(stepsDir: string | undefined, loadTimeoutMs = LOAD_TIMEOUT_MS): Promise<StepRegistry> {
  const key = stepsDir ?? '';
  let registry = loaded.get(key);
  if (!registry) {
    const loading = (async () => {
      const r = new StepRegistry();
      defineHttpSteps(r);
      if (stepsDir) await loadModules(r, stepsDir);
      return r;
    })();
    // A module whose default export never settles must not hold every BDD execution on this thread.
    registry = withTimeout(
      loading,
      loadTimeoutMs,
      () => new Error(`the step-definition modules in ${stepsDir ?? '(none)'} did not load within ${loadTimeoutMs} ms`),
    );
    // A failed load is not cached: fixing the directory helps the next execution without a restart.
    registry.catch(() => loaded.delete(key));
    loaded.set(key, registry);
  }
  return registry;
}
