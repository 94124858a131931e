import type { PlainError } from '../../core/errors.js';
import type { JunitCase } from './junit-ingest.js';

/** A result an action reports beside its own, recorded as a step after it (a test case from a JUnit file). */
export type SubStep = JunitCase;

/**
 * A step's verdict. An action throws only when the system (not the test) is broken.
 * - `ERROR`: the definition cannot run (a command that does not exist); `error` says why.
 * - `TIMEOUT`: the step's own time limit passed.
 * - `STOPPED`: the runner's signal fired and the action stopped; the runner records TIMEOUT or CANCELLED by
 *   the signal's reason.
 */
export interface ActionResult {
  status: 'PASSED' | 'FAILED' | 'ERROR' | 'TIMEOUT' | 'STOPPED';
  output?: string;
  message?: string;
  error?: PlainError;
  subSteps?: SubStep[];
}
