import type { DeadLetter } from '../bus/bus.port.js';
import { TroupeError } from '../core/errors.js';
import { isTerminal } from '../core/statuses.js';
import type { ExecutionRecord } from '../store/store.port.js';
import { audit } from './audit.js';
import type { CoordinatorOptions } from './options.js';
import { canSee, type Principal } from './principal.js';
import type { Submissions } from './submissions.js';

/** Jobs given up after too many deliveries: listed, run again or discarded by an admin. */
export class DeadLetters {
  constructor(
    private readonly options: CoordinatorOptions,
    private readonly submissions: Submissions,
  ) {}

  /** Every dead letter the bus holds, oldest first (admin). */
  list(): Promise<DeadLetter[]> {
    return this.options.bus.listDeadLetters();
  }

  /**
   * Runs a dead-lettered job's execution again: a new execution linked by `rerunOf` (like retry), and the
   * letter is removed. The execution must have ended (ABORTED once its letter was taken).
   */
  async redrive(jobId: string, principal: Principal): Promise<ExecutionRecord> {
    const { bus, store } = this.options;
    const letter = (await bus.listDeadLetters()).find((l) => l.job.jobId === jobId);
    if (!letter) throw new TroupeError('NOT_FOUND', `no dead letter for job ${jobId}`);
    const original = await store.getExecution(letter.job.executionId);
    if (!original || !canSee(principal, original.owner)) throw new TroupeError('NOT_FOUND', `no dead letter for job ${jobId}`);
    if (!isTerminal(original.status)) {
      throw new TroupeError('ILLEGAL_TRANSITION', `the execution has not ended yet: it is ${original.status}`, {
        details: { status: original.status, event: 'REDRIVE' },
      });
    }
    // The letter goes first: of two concurrent redrives only the one that removed it runs the execution again.
    if (!(await bus.removeDeadLetter(jobId))) throw new TroupeError('NOT_FOUND', `no dead letter for job ${jobId}`);
    // The rerun belongs to the execution's owner, not to the admin who redrove it.
    const record = await this.submissions.admit(original.item, { ...principal, id: original.owner }, original.context, original.id);
    await audit(store, this.options.clock, principal, 'REDRIVE', jobId, { execution: original.id, rerun: record.id });
    return record;
  }

  /** Forgets a dead letter without running anything again. */
  async discard(jobId: string, principal: Principal): Promise<void> {
    if (!(await this.options.bus.removeDeadLetter(jobId))) throw new TroupeError('NOT_FOUND', `no dead letter for job ${jobId}`);
    await audit(this.options.store, this.options.clock, principal, 'DISCARD_DEAD_LETTER', jobId);
  }
}
