import { TroupeError } from '../core/errors.js';
import type { EventType, Status } from '../core/statuses.js';
import { audit } from './audit.js';
import type { Lifecycles } from './lifecycles.js';
import type { CoordinatorOptions } from './options.js';
import { canSee, type Principal } from './principal.js';

/** Users' and admins' commands on executions and runs, each applied through the machine and audited. */
export class Commands {
  constructor(
    private readonly options: CoordinatorOptions,
    private readonly lifecycles: Lifecycles,
  ) {}

  /**
   * Applies a user or engine command. Illegal in the current status → ILLEGAL_TRANSITION naming it;
   * unknown or not visible → NOT_FOUND. Written to the audit log.
   */
  async command(executionId: string, type: EventType, principal: Principal, reason?: string): Promise<Status> {
    const actor = this.lifecycles.actors.get(executionId);
    if (actor && !canSee(principal, actor.meta.owner)) throw new TroupeError('NOT_FOUND', `execution ${executionId} not found`);
    if (!actor) {
      const record = await this.options.store.getExecution(executionId);
      if (!record || !canSee(principal, record.owner)) throw new TroupeError('NOT_FOUND', `execution ${executionId} not found`);
      throw new TroupeError('ILLEGAL_TRANSITION', `${type} is not allowed: execution is ${record.status}`, {
        details: { status: record.status, event: type },
      });
    }
    const status = actor.status;
    const write = actor.apply(type, { actor: `user:${principal.id}`, ...(reason === undefined ? {} : { reason }) });
    if (!write) {
      throw new TroupeError('ILLEGAL_TRANSITION', `${type} is not allowed: execution is ${status}`, {
        details: { status, event: type },
      });
    }
    const outcome = await write;
    if (outcome !== 'applied') throw new TroupeError('VERSION_CONFLICT', `execution ${executionId} changed concurrently`);
    await audit(this.options.store, this.options.clock, principal, type, executionId, reason === undefined ? undefined : { reason });
    return actor.status;
  }

  /** Cancels every unfinished execution of a run; the run ends CANCELLED. */
  async cancelRun(runId: string, principal: Principal): Promise<void> {
    const run = await this.options.store.getRun(runId);
    if (!run || !canSee(principal, run.owner)) throw new TroupeError('NOT_FOUND', `run ${runId} not found`);
    const supervisor = this.lifecycles.supervisorOf(runId);
    if (!supervisor) {
      throw new TroupeError('ILLEGAL_TRANSITION', `the run is already ${run.status}`, { details: { status: run.status } });
    }
    supervisor.send({ type: 'cancel', actor: `user:${principal.id}`, reason: `run cancelled by ${principal.id}` });
    await audit(this.options.store, this.options.clock, principal, 'CANCEL_RUN', runId);
  }
}
