import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ExecutionMachineContext, TransitionRecord } from '../../machines/execution.machine.js';
import type { ExecutionRecord, Store, TransitionWrite, WriteOutcome } from '../../src/store/store.port.js';
import { afterWrite, makeExecution, makeRunWithExecutions, MOVES, writeFor } from './store.fixtures.js';

/**
 * Model-based test of conditional writes (SPEC §6: concurrent writers never overwrite each other). Several writers
 * each hold their own, possibly stale, view of a few executions and write from it — one at a time or many in one
 * tick. The model is the obvious one: a write applies exactly when its expected version is the current one.
 */

const WRITERS = 3;
const EXECUTIONS = 3;

interface Model {
  executions: { record: ExecutionRecord; events: TransitionRecord[] }[];
  /** views[writer][execution]: the machine context that writer last saw. */
  views: ExecutionMachineContext[][];
}
interface Real {
  store: Store;
}

type Intent = readonly [writer: number, execution: number, choice: number];

/** The write a writer issues from its view, or null when its view is terminal (nothing left to do). */
function plan(m: Model, [writer, execution, choice]: Intent): TransitionWrite | null {
  const view = m.views[writer]![execution]!;
  const moves = MOVES[view.last.to];
  const move = moves[choice % Math.max(1, moves.length)];
  return move ? writeFor(view, move[0], move[1]) : null;
}

function adopt(m: Model, [writer, execution]: Intent, write: TransitionWrite): void {
  const target = m.executions[execution]!;
  target.record = afterWrite(target.record, write);
  target.events.push(write.machine.last);
  m.views[writer]![execution] = write.machine;
}

class WriteCommand implements fc.AsyncCommand<Model, Real> {
  constructor(private readonly intent: Intent) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const write = plan(m, this.intent);
    if (!write) return;
    const current = m.executions[this.intent[1]]!.record.version;
    const outcome = await r.store.applyTransition(write);
    expect(outcome).toBe(write.expectedVersion === current ? 'applied' : 'conflict');
    if (outcome === 'applied') adopt(m, this.intent, write);
  }
  toString(): string {
    return `write(${this.intent.join(',')})`;
  }
}

/** Writes issued in one tick: per execution, exactly one of those on the current version wins; every other conflicts. */
class BurstCommand implements fc.AsyncCommand<Model, Real> {
  constructor(private readonly intents: readonly Intent[]) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const planned = this.intents
      .map((intent) => ({ intent, write: plan(m, intent) }))
      .filter((p): p is { intent: Intent; write: TransitionWrite } => p.write !== null);
    const outcomes: WriteOutcome[] = await Promise.all(planned.map((p) => r.store.applyTransition(p.write)));
    for (let execution = 0; execution < EXECUTIONS; execution++) {
      const current = m.executions[execution]!.record.version;
      const mine = planned.map((p, i) => ({ ...p, outcome: outcomes[i] })).filter((p) => p.intent[1] === execution);
      const fresh = mine.filter((p) => p.write.expectedVersion === current);
      const applied = mine.filter((p) => p.outcome === 'applied');
      expect(applied.length).toBe(fresh.length > 0 ? 1 : 0);
      expect(mine.filter((p) => p.outcome !== 'applied' && p.outcome !== 'conflict')).toEqual([]);
      const winner = applied[0];
      if (winner) {
        expect(winner.write.expectedVersion).toBe(current);
        adopt(m, winner.intent, winner.write);
      }
    }
  }
  toString(): string {
    return `burst(${this.intents.map((i) => i.join(',')).join(' ')})`;
  }
}

class ReadCommand implements fc.AsyncCommand<Model, Real> {
  constructor(private readonly writer: number, private readonly execution: number) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const expected = m.executions[this.execution]!.record;
    const stored = await r.store.getExecution(expected.id);
    expect(stored).toEqual(expected);
    m.views[this.writer]![this.execution] = stored!.machine;
  }
  toString(): string {
    return `read(${this.writer},${this.execution})`;
  }
}

class GhostWriteCommand implements fc.AsyncCommand<Model, Real> {
  check(): boolean {
    return true;
  }
  async run(_m: Model, r: Real): Promise<void> {
    const ghost = makeExecution();
    expect(await r.store.applyTransition(writeFor(ghost.machine, 'START', 'RUNNING'))).toBe('not_found');
  }
  toString(): string {
    return 'ghost-write';
  }
}

const intent = fc.tuple(fc.nat(WRITERS - 1), fc.nat(EXECUTIONS - 1), fc.nat(30));
const commands = fc.commands(
  [
    intent.map((i) => new WriteCommand(i)),
    intent.map((i) => new WriteCommand(i)),
    fc.array(intent, { minLength: 2, maxLength: 8 }).map((is) => new BurstCommand(is)),
    fc.tuple(fc.nat(WRITERS - 1), fc.nat(EXECUTIONS - 1)).map(([w, e]) => new ReadCommand(w, e)),
    fc.constant(new GhostWriteCommand()),
  ],
  { maxCommands: 40 },
);

/** Registered by storeContract inside its describe, against that test's store. */
export function storeModelTests(getStore: () => Store): void {
  describe('conditional writes against a model', () => {
    it('never applies a stale write, and ends in the model’s state', async () => {
      await fc.assert(
        fc.asyncProperty(commands, async (cmds) => {
          const store = getStore();
          const { run, executions } = makeRunWithExecutions(EXECUTIONS);
          await store.createRun(run, executions);
          const model: Model = {
            executions: executions.map((record) => ({ record, events: [record.machine.last] })),
            views: Array.from({ length: WRITERS }, () => executions.map((e) => e.machine)),
          };

          await fc.asyncModelRun(() => ({ model, real: { store } }), cmds);

          for (const { record, events } of model.executions) {
            expect(await store.getExecution(record.id)).toEqual(record);
            const stored = await store.listEvents(record.id);
            expect(stored).toEqual(events);
            expect(stored.map((e) => e.seq)).toEqual(stored.map((_, i) => i + 1));
          }
          expect(await store.runCounts(run.id)).toEqual(
            model.executions.reduce<Record<string, number>>((counts, { record }) => {
              counts[record.status] = (counts[record.status] ?? 0) + 1;
              return counts;
            }, {}),
          );
          const ids = new Set(executions.map((e) => e.id));
          const log = (await store.eventsSince(0, 100_000)).filter((e) => ids.has(e.executionId));
          for (const { record, events } of model.executions) {
            expect(log.filter((e) => e.executionId === record.id).map((e) => e.record)).toEqual(events);
          }
        }),
        { numRuns: 30 },
      );
    });
  });
}
