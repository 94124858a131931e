import type Database from 'better-sqlite3';

/** The SQLite schema of the embedded store, and the migrations of files made by older versions. */

// The event log is two tables sharing one cursor sequence: `events` (transitions) and `step_events` (a step
// finished; its details are the `steps` row it points at). Cursors are assigned by the store from one counter,
// caught up with the file inside each IMMEDIATE write transaction, so they strictly increase across both
// tables and across processes writing the same file; rows are never deleted.
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL, owner TEXT NOT NULL,
  priority TEXT NOT NULL, context TEXT NOT NULL, labels TEXT NOT NULL, fail_fast INTEGER NOT NULL,
  max_parallel INTEGER, idempotency_key TEXT, request_hash TEXT, total INTEGER NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS runs_idempotency ON runs(owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_status ON runs(status);
CREATE TABLE IF NOT EXISTS executions (
  id TEXT PRIMARY KEY, run_id TEXT, name TEXT NOT NULL, type TEXT NOT NULL, status TEXT NOT NULL,
  priority TEXT NOT NULL, context TEXT NOT NULL, attempt INTEGER NOT NULL, owner TEXT NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, rerun_of TEXT, item TEXT NOT NULL,
  machine TEXT NOT NULL, version INTEGER NOT NULL, terminal INTEGER NOT NULL
);
-- Neither index holds a column a transition changes but terminal, and the partial one only loses its entry when an
-- execution ends: a transition's UPDATE touches the table row and little else.
CREATE INDEX IF NOT EXISTS executions_by_run ON executions(run_id);
CREATE INDEX IF NOT EXISTS executions_live ON executions(id) WHERE terminal = 0;
CREATE INDEX IF NOT EXISTS executions_owner ON executions(owner, id);
CREATE TABLE IF NOT EXISTS events (
  cursor INTEGER PRIMARY KEY, execution_id TEXT NOT NULL, run_id TEXT, seq INTEGER NOT NULL,
  from_status TEXT, to_status TEXT NOT NULL, event TEXT NOT NULL, at INTEGER NOT NULL, attempt INTEGER NOT NULL,
  reason TEXT, actor TEXT NOT NULL, UNIQUE(execution_id, seq)
);
CREATE TABLE IF NOT EXISTS step_events (
  cursor INTEGER PRIMARY KEY, execution_id TEXT NOT NULL, run_id TEXT, attempt INTEGER NOT NULL, idx INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS steps (
  execution_id TEXT NOT NULL, attempt INTEGER NOT NULL, idx INTEGER NOT NULL, name TEXT NOT NULL,
  status TEXT NOT NULL, started_at INTEGER NOT NULL, duration_ms INTEGER NOT NULL, output TEXT, error TEXT,
  case_of INTEGER, PRIMARY KEY (execution_id, attempt, idx)
);
CREATE TABLE IF NOT EXISTS testcases (
  id TEXT PRIMARY KEY, owner TEXT NOT NULL, item TEXT NOT NULL, version INTEGER NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS suites (
  id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, testcase_ids TEXT NOT NULL, version INTEGER NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, role TEXT NOT NULL, name TEXT NOT NULL,
  created_at INTEGER NOT NULL, revoked_at INTEGER
);
-- Test history (SPEC §8): a finished run's place in its series, its tests' outcomes (what a comparison reads), and
-- per series and test name the last outcomes and duration (flakiness across runs, duration-aware ordering). Each
-- is read by its primary key or index prefix, so a run of 100,000 tests is compared and ordered in one pass.
CREATE TABLE IF NOT EXISTS run_series (
  run_id TEXT PRIMARY KEY, series TEXT NOT NULL, created_at INTEGER NOT NULL, finished_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS run_series_by_series ON run_series(series, created_at, run_id);
CREATE TABLE IF NOT EXISTS test_outcomes (
  run_id TEXT NOT NULL, pos INTEGER NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, duration_ms INTEGER NOT NULL,
  flaky INTEGER NOT NULL, PRIMARY KEY (run_id, pos)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS test_history (
  series TEXT NOT NULL, name TEXT NOT NULL, outcomes TEXT NOT NULL, duration_ms INTEGER NOT NULL, last_run TEXT,
  PRIMARY KEY (series, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, principal TEXT NOT NULL, action TEXT NOT NULL,
  target TEXT NOT NULL, source TEXT NOT NULL, details TEXT
);
-- Triggers, webhook deliveries and run notifications (SPEC §8).
CREATE TABLE IF NOT EXISTS triggers (
  id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, source TEXT NOT NULL, repository TEXT NOT NULL,
  events TEXT NOT NULL, branches TEXT, suite_id TEXT NOT NULL, notify_url TEXT, notify_secret TEXT,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS triggers_by_repository ON triggers(source, repository COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS triggers_owner ON triggers(owner, id);
-- The primary key decides between two concurrent deliveries of the same id: the first stored stands.
CREATE TABLE IF NOT EXISTS hook_deliveries (
  source TEXT NOT NULL, id TEXT NOT NULL, event TEXT NOT NULL, runs TEXT NOT NULL, received_at INTEGER NOT NULL,
  PRIMARY KEY (source, id)
);
CREATE TABLE IF NOT EXISTS notifications (
  run_id TEXT PRIMARY KEY, trigger_id TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS notifications_pending ON notifications(created_at) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS notify_attempts (
  id TEXT PRIMARY KEY, trigger_id TEXT NOT NULL, run_id TEXT NOT NULL, attempt INTEGER NOT NULL, at INTEGER NOT NULL,
  status_code INTEGER, error TEXT, ok INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS notify_attempts_by_trigger ON notify_attempts(trigger_id, id);
`;

/** Columns added after a table was first created: `CREATE TABLE IF NOT EXISTS` leaves older files without them. */
export function migrate(db: Database.Database): void {
  const columns = db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('steps')").all();
  if (!columns.some((c) => c.name === 'case_of')) db.exec('ALTER TABLE steps ADD COLUMN case_of INTEGER');
  // Indexes of older files that every transition had to update (status, terminal); replaced in SCHEMA.
  db.exec('DROP INDEX IF EXISTS executions_run; DROP INDEX IF EXISTS executions_active;');
}
