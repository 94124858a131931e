import type { ExecutionActor } from '../../actors/execution.actor.js';
import { TroupeError } from '../core/errors.js';
import { VerdictSchema, validate, type ManualStep } from '../core/schemas.js';
import type { Status } from '../core/statuses.js';
import { audit } from './audit.js';
import type { Lifecycles } from './lifecycles.js';
import type { CoordinatorOptions } from './options.js';
import { canSee, type Principal } from './principal.js';

const VERDICT_STATUS = { passed: 'PASSED', failed: 'FAILED', skipped: 'SKIPPED' } as const;

/**
 * MANUAL executions run in the engine, not on a worker: each step pauses for a tester's verdict, and the verdicts
 * stored decide the next move.
 */
export class ManualSteps {
  /** A MANUAL execution's next move (pause for a verdict, or end) being decided and stored. */
  private readonly moves = new Map<string, Promise<void>>();

  constructor(
    private readonly options: CoordinatorOptions,
    private readonly lifecycles: Lifecycles,
  ) {
    lifecycles.onManualRunning = (actor) => this.next(actor);
  }

  /**
   * A MANUAL execution is RUNNING: from the verdicts stored for this attempt, it ends FAILED (a step failed),
   * PASSED (every step has a verdict) or goes PAUSED awaiting the next step's verdict.
   */
  private next(actor: ExecutionActor): void {
    const move = (async () => {
      const attempt = actor.context.attempt;
      const given = (await this.options.store.listSteps(actor.id)).filter((s) => s.attempt === attempt);
      const steps = (actor.meta.item.steps ?? []) as ManualStep[];
      const failed = given.find((s) => s.status === 'FAILED');
      const write = failed
        ? actor.apply('FAIL', { actor: 'engine', reason: `step ${failed.index} failed: ${failed.output ?? failed.name}` })
        : given.length >= steps.length
          ? actor.apply('PASS', { actor: 'engine', reason: `all ${steps.length} steps passed or skipped` })
          : actor.apply('PAUSE', {
              actor: 'engine',
              reason: `awaiting the verdict for step ${given.length}: ${steps[given.length]?.instruction ?? ''}`,
            });
      await write;
    })().catch((err: unknown) => {
      // Nothing else would ever move it on (no timer is armed while RUNNING): end it as a system failure.
      this.options.logger.error({ err, executionId: actor.id }, 'manual step not decided');
      void actor.apply('ERROR', { actor: 'engine', reason: `the next manual step could not be decided: ${String(err)}` });
    });
    this.moves.set(actor.id, move);
    void move.finally(() => {
      if (this.moves.get(actor.id) === move) this.moves.delete(actor.id);
    });
  }

  /**
   * A tester's verdict on step `index` of a PAUSED MANUAL execution: the step is stored with the RESUME that
   * follows, and the execution moves on (next pause, PASSED or FAILED) before this resolves. Only the owner or an
   * admin; the step must be the one awaited.
   */
  async verdict(executionId: string, index: number, body: unknown, principal: Principal): Promise<Status> {
    const { store } = this.options;
    const given = validate(VerdictSchema, body, 'verdict');
    const actor = this.lifecycles.actors.get(executionId);
    const record = actor ? null : await store.getExecution(executionId);
    const owner = actor?.meta.owner ?? record?.owner;
    if (owner === undefined || !canSee(principal, owner)) throw new TroupeError('NOT_FOUND', `execution ${executionId} not found`);
    const item = actor?.meta.item ?? record?.item;
    if (item?.type !== 'MANUAL') {
      throw new TroupeError('VALIDATION_FAILED', `execution ${executionId} is ${item?.type ?? 'unknown'}: verdicts are for MANUAL executions`);
    }
    const steps = (item.steps ?? []) as ManualStep[];
    if (index >= steps.length) {
      throw new TroupeError('VALIDATION_FAILED', `step ${index} does not exist: the execution has ${steps.length} steps (0-${steps.length - 1})`);
    }
    await this.moves.get(executionId);
    const status = actor?.status ?? record?.status;
    if (!actor || status !== 'PAUSED') {
      throw new TroupeError('ILLEGAL_TRANSITION', `no verdict is awaited: execution is ${status}`, { details: { status, event: 'VERDICT' } });
    }
    const attempt = actor.context.attempt;
    const seq = actor.context.seq;
    const awaited = (await store.listSteps(executionId)).filter((s) => s.attempt === attempt).length;
    if (actor.context.seq !== seq) {
      throw new TroupeError('ILLEGAL_TRANSITION', `the execution moved on meanwhile: it is ${actor.status}`, {
        details: { status: actor.status, event: 'VERDICT' },
      });
    }
    if (index !== awaited) {
      throw new TroupeError('ILLEGAL_TRANSITION', `the verdict awaited is for step ${awaited}, not step ${index}`, {
        details: { status, awaitedStep: awaited },
      });
    }
    const pausedAt = actor.context.last.at;
    const now = this.options.clock.now();
    const notes = [given.comment, given.attachment === undefined ? undefined : `attachment: ${given.attachment}`].filter(
      (n): n is string => n !== undefined,
    );
    const step = {
      index,
      name: steps[index]!.instruction,
      status: VERDICT_STATUS[given.verdict],
      startedAt: pausedAt,
      durationMs: Math.max(0, now - pausedAt),
      ...(notes.length > 0 ? { output: notes.join('\n') } : {}),
    };
    const write = actor.apply('RESUME', {
      actor: `user:${principal.id}`,
      reason: `verdict for step ${index}: ${given.verdict}`,
      steps: [step],
    });
    if (!write) throw new TroupeError('ILLEGAL_TRANSITION', `no verdict is awaited: execution is ${actor.status}`);
    if ((await write) !== 'applied') throw new TroupeError('VERSION_CONFLICT', `execution ${executionId} changed concurrently`);
    await this.moves.get(executionId);
    await audit(store, this.options.clock, principal, 'VERDICT', executionId, { step: index, verdict: given.verdict });
    return this.lifecycles.actors.get(executionId)?.status ?? (await store.getExecution(executionId))?.status ?? actor.status;
  }
}
