import type Database from 'better-sqlite3';
import type {
  HookDeliveryRecord,
  HookSource,
  NotificationRecord,
  NotifyAttemptRecord,
  TriggerRecord,
} from '../store.port.js';

/** Rows of triggers, webhook deliveries and run notifications (SPEC §8), and their reads. */

export interface TriggerRow {
  id: string;
  owner: string;
  name: string;
  source: string;
  repository: string;
  events: string;
  branches: string | null;
  suite_id: string;
  notify_url: string | null;
  notify_secret: string | null;
  created_at: number;
}

export interface NotifyAttemptRow {
  id: string;
  trigger_id: string;
  run_id: string;
  attempt: number;
  at: number;
  status_code: number | null;
  error: string | null;
  ok: number;
}

interface DeliveryRow {
  source: string;
  id: string;
  event: string;
  runs: string;
  received_at: number;
}

interface NotificationRow {
  run_id: string;
  trigger_id: string;
  state: string;
  attempts: number;
  created_at: number;
}

export function toTrigger(row: TriggerRow): TriggerRecord {
  return {
    id: row.id,
    owner: row.owner,
    name: row.name,
    source: row.source as HookSource,
    repository: row.repository,
    events: JSON.parse(row.events) as string[],
    branches: row.branches === null ? null : (JSON.parse(row.branches) as string[]),
    suiteId: row.suite_id,
    notify: row.notify_url === null ? null : { url: row.notify_url, secret: row.notify_secret ?? '' },
    createdAt: row.created_at,
  };
}

export function toNotifyAttempt(row: NotifyAttemptRow): NotifyAttemptRecord {
  return {
    id: row.id,
    triggerId: row.trigger_id,
    runId: row.run_id,
    attempt: row.attempt,
    at: row.at,
    statusCode: row.status_code,
    error: row.error,
    ok: row.ok === 1,
  };
}

function toNotification(row: NotificationRow): NotificationRecord {
  return {
    runId: row.run_id,
    triggerId: row.trigger_id,
    state: row.state as NotificationRecord['state'],
    attempts: row.attempts,
    createdAt: row.created_at,
  };
}

/** Single-row and small reads; the paged lists go through the reader's `page`. */
export class TriggerReads {
  private readonly stmt;

  constructor(db: Database.Database) {
    this.stmt = {
      getTrigger: db.prepare<[string], TriggerRow>('SELECT * FROM triggers WHERE id = ?'),
      triggersFor: db.prepare<[string, string], TriggerRow>('SELECT * FROM triggers WHERE source = ? AND repository = ? COLLATE NOCASE ORDER BY id'),
      getDelivery: db.prepare<[string, string], DeliveryRow>('SELECT * FROM hook_deliveries WHERE source = ? AND id = ?'),
      pending: db.prepare<[], NotificationRow>("SELECT * FROM notifications WHERE state = 'pending' ORDER BY created_at, run_id"),
    };
  }

  getTrigger(id: string): TriggerRecord | null {
    const row = this.stmt.getTrigger.get(id);
    return row ? toTrigger(row) : null;
  }

  triggersFor(source: HookSource, repository: string): TriggerRecord[] {
    return this.stmt.triggersFor.all(source, repository).map(toTrigger);
  }

  getHookDelivery(source: HookSource, id: string): HookDeliveryRecord | null {
    const row = this.stmt.getDelivery.get(source, id);
    if (!row) return null;
    return { source: row.source as HookSource, id: row.id, event: row.event, runs: JSON.parse(row.runs) as string[], receivedAt: row.received_at };
  }

  pendingNotifications(): NotificationRecord[] {
    return this.stmt.pending.all().map(toNotification);
  }
}
