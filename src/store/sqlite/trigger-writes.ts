import type Database from 'better-sqlite3';
import type { TriggerWriteOp, WriteValue } from './ops.js';

/**
 * The writer thread's writes of triggers, webhook deliveries and run notifications (SPEC §8), on the writer's
 * connection and inside its transactions.
 */
export class TriggerWrites {
  private readonly stmt;

  constructor(db: Database.Database) {
    this.stmt = {
      insertTrigger: db.prepare(
        `INSERT INTO triggers (id, owner, name, source, repository, events, branches, suite_id, notify_url, notify_secret,
          created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      deleteTrigger: db.prepare('DELETE FROM triggers WHERE id = ?'),
      // OR IGNORE: a delivery already stored stands; `changes` tells the caller which one it was.
      insertDelivery: db.prepare('INSERT OR IGNORE INTO hook_deliveries (source, id, event, runs, received_at) VALUES (?, ?, ?, ?, ?)'),
      insertNotification: db.prepare(
        'INSERT OR IGNORE INTO notifications (run_id, trigger_id, state, attempts, created_at) VALUES (?, ?, ?, ?, ?)',
      ),
      countAttempt: db.prepare('UPDATE notifications SET attempts = MAX(attempts, ?) WHERE run_id = ?'),
      insertAttempt: db.prepare(
        'INSERT INTO notify_attempts (id, trigger_id, run_id, attempt, at, status_code, error, ok) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      endNotification: db.prepare("UPDATE notifications SET state = ? WHERE run_id = ? AND state = 'pending'"),
    };
  }

  apply(op: TriggerWriteOp): WriteValue {
    switch (op.k) {
      case 'trigger': {
        const t = op.record;
        this.stmt.insertTrigger.run(
          t.id,
          t.owner,
          t.name,
          t.source,
          t.repository,
          JSON.stringify(t.events),
          t.branches === null ? null : JSON.stringify(t.branches),
          t.suiteId,
          t.notify?.url ?? null,
          t.notify?.secret ?? null,
          t.createdAt,
        );
        return null;
      }
      case 'deleteTrigger':
        return this.stmt.deleteTrigger.run(op.id).changes === 1;
      case 'hookDelivery': {
        const d = op.record;
        return this.stmt.insertDelivery.run(d.source, d.id, d.event, JSON.stringify(d.runs), d.receivedAt).changes === 1;
      }
      case 'notification': {
        const n = op.record;
        return this.stmt.insertNotification.run(n.runId, n.triggerId, n.state, n.attempts, n.createdAt).changes === 1;
      }
      case 'notifyAttempt': {
        const a = op.attempt;
        this.stmt.insertAttempt.run(a.id, a.triggerId, a.runId, a.attempt, a.at, a.statusCode, a.error, a.ok ? 1 : 0);
        this.stmt.countAttempt.run(a.attempt, a.runId);
        if (op.state) this.stmt.endNotification.run(op.state, a.runId);
        return null;
      }
      case 'endNotification':
        this.stmt.endNotification.run(op.state, op.runId);
        return null;
    }
  }
}
