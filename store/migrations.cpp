// The schema of the llmops store, as ordered migrations. Never edit a released script: append one.
#include "store/migrations.hpp"

#include "base/time.hpp"

namespace llmops::store {
namespace {

// Version 1: runs, steps, executions, artifacts, lineage events and metrics, plus the tables that
// triggers, schedules and deployments will fill. Times are unix seconds (REAL), NULL when unset.
constexpr const char* kV1 = R"sql(
CREATE TABLE pipelines (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  file TEXT NOT NULL DEFAULT '',
  last_spec_digest TEXT NOT NULL DEFAULT '',
  created_at REAL NOT NULL,
  updated_at REAL NOT NULL
);

CREATE TABLE runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  pipeline TEXT NOT NULL REFERENCES pipelines(name),
  pipeline_file TEXT NOT NULL DEFAULT '',
  spec_digest TEXT NOT NULL DEFAULT '',
  spec_text TEXT NOT NULL DEFAULT '',
  params_json TEXT NOT NULL DEFAULT '{}',
  state TEXT NOT NULL DEFAULT 'pending',
  trigger_kind TEXT NOT NULL DEFAULT 'manual',
  trigger_info_json TEXT NOT NULL DEFAULT '{}',
  parent_run INTEGER REFERENCES runs(id),
  cycle INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  created_at REAL NOT NULL,
  started_at REAL,
  ended_at REAL
);
CREATE INDEX runs_pipeline ON runs(pipeline, id);
CREATE INDEX runs_parent ON runs(parent_run);
CREATE INDEX runs_state ON runs(state);

CREATE TABLE run_steps (
  run_id INTEGER NOT NULL REFERENCES runs(id),
  step TEXT NOT NULL,
  ordinal INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL DEFAULT 'pending',
  reason TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  started_at REAL,
  ended_at REAL,
  PRIMARY KEY (run_id, step)
);

CREATE TABLE executions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER NOT NULL,
  step TEXT NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL,
  plugin_id TEXT NOT NULL DEFAULT '',
  plugin_version TEXT NOT NULL DEFAULT '',
  plugin_digest TEXT NOT NULL DEFAULT '',
  cache_key TEXT NOT NULL DEFAULT '',
  started_at REAL,
  ended_at REAL,
  error TEXT NOT NULL DEFAULT '',
  log_path TEXT NOT NULL DEFAULT '',
  FOREIGN KEY (run_id, step) REFERENCES run_steps(run_id, step)
);
CREATE INDEX executions_run ON executions(run_id, step);
CREATE INDEX executions_cache_key ON executions(cache_key, state);
CREATE INDEX executions_state ON executions(state);

CREATE TABLE artifacts (
  digest TEXT PRIMARY KEY,
  kind TEXT NOT NULL DEFAULT '',
  name TEXT NOT NULL DEFAULT '',
  uri TEXT NOT NULL DEFAULT '',
  size INTEGER NOT NULL DEFAULT 0,
  metadata_json TEXT NOT NULL DEFAULT '{}',
  created_at REAL NOT NULL
);
CREATE INDEX artifacts_created ON artifacts(created_at);

CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  execution_id INTEGER NOT NULL REFERENCES executions(id),
  artifact_digest TEXT NOT NULL REFERENCES artifacts(digest),
  direction TEXT NOT NULL CHECK (direction IN ('input', 'output')),
  role TEXT NOT NULL DEFAULT '',
  UNIQUE (execution_id, direction, role, artifact_digest)
);
CREATE INDEX events_artifact ON events(artifact_digest, direction);

CREATE TABLE metrics (
  id INTEGER PRIMARY KEY,
  execution_id INTEGER NOT NULL REFERENCES executions(id),
  name TEXT NOT NULL,
  value REAL NOT NULL,
  step INTEGER NOT NULL DEFAULT -1,
  time REAL NOT NULL
);
CREATE INDEX metrics_execution ON metrics(execution_id, name);

-- Reserved for feedback: a trigger raised by a monitor execution and the run it started.
CREATE TABLE triggers (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER REFERENCES runs(id),
  kind TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  payload_json TEXT NOT NULL DEFAULT '{}',
  source_run_id INTEGER REFERENCES runs(id),
  source_execution_id INTEGER REFERENCES executions(id),
  report_digest TEXT REFERENCES artifacts(digest),
  created_at REAL NOT NULL
);
CREATE INDEX triggers_run ON triggers(run_id);
CREATE INDEX triggers_source ON triggers(source_execution_id);

-- Reserved for cron: the last nominal fire time per schedule, so a restart neither skips nor
-- repeats a fire.
CREATE TABLE schedules (
  name TEXT PRIMARY KEY,
  pipeline_file TEXT NOT NULL DEFAULT '',
  cron TEXT NOT NULL DEFAULT '',
  timezone TEXT NOT NULL DEFAULT 'UTC',
  last_nominal_fire REAL,
  last_run_id INTEGER REFERENCES runs(id),
  updated_at REAL NOT NULL
);

-- Reserved for deployers: the current state of each deployment and its append-only history.
CREATE TABLE deployments (
  name TEXT PRIMARY KEY,
  artifact_digest TEXT REFERENCES artifacts(digest),
  state TEXT NOT NULL DEFAULT '',
  endpoint TEXT NOT NULL DEFAULT '',
  info_json TEXT NOT NULL DEFAULT '{}',
  run_id INTEGER REFERENCES runs(id),
  execution_id INTEGER REFERENCES executions(id),
  updated_at REAL NOT NULL
);
CREATE TABLE deployment_history (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  deployment TEXT NOT NULL,
  action TEXT NOT NULL,
  artifact_digest TEXT REFERENCES artifacts(digest),
  state TEXT NOT NULL DEFAULT '',
  info_json TEXT NOT NULL DEFAULT '{}',
  run_id INTEGER REFERENCES runs(id),
  execution_id INTEGER REFERENCES executions(id),
  created_at REAL NOT NULL
);
CREATE INDEX deployment_history_name ON deployment_history(deployment, id);
CREATE TRIGGER deployment_history_no_update BEFORE UPDATE ON deployment_history
BEGIN SELECT RAISE(ABORT, 'deployment_history is append-only'); END;
CREATE TRIGGER deployment_history_no_delete BEFORE DELETE ON deployment_history
BEGIN SELECT RAISE(ABORT, 'deployment_history is append-only'); END;
)sql";

// Version 2: watch schedules (their kind, what they watch, the digest that started the last run)
// and the processes the scheduler started (`schedule_fires`), so a restarted scheduler knows what
// is still in flight, from which process, and which run each one recorded.
constexpr const char* kV2 = R"sql(
ALTER TABLE schedules ADD COLUMN kind TEXT NOT NULL DEFAULT 'cron';
ALTER TABLE schedules ADD COLUMN watch_json TEXT NOT NULL DEFAULT '';
ALTER TABLE schedules ADD COLUMN last_digest TEXT;
ALTER TABLE schedules ADD COLUMN last_started_at REAL;

CREATE TABLE schedule_fires (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  schedule TEXT NOT NULL,
  kind TEXT NOT NULL,
  token TEXT NOT NULL UNIQUE,
  nominal REAL,
  digest TEXT NOT NULL DEFAULT '',
  pid INTEGER,
  run_id INTEGER REFERENCES runs(id),
  runs_before INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL DEFAULT 'starting'
    CHECK (state IN ('starting', 'running', 'cancelling', 'ended')),
  note TEXT NOT NULL DEFAULT '',
  created_at REAL NOT NULL,
  ended_at REAL
);
CREATE INDEX schedule_fires_open ON schedule_fires(state, schedule);
CREATE INDEX schedule_fires_run ON schedule_fires(run_id);
)sql";

// Version 3: fewer index pages written per step. Nothing looks executions up by state alone
// (interrupted executions are found by run, through executions_run), and the cache lookup needs
// the key only: an index on (cache_key, state) was rewritten when an execution finished.
constexpr const char* kV3 = R"sql(
DROP INDEX IF EXISTS executions_state;
DROP INDEX IF EXISTS executions_cache_key;
CREATE INDEX executions_key ON executions(cache_key);
)sql";

// Version 4: two fewer pages written per step. Executions lose AUTOINCREMENT: nothing deletes an
// execution, so ids were never reused anyway, and its sqlite_sequence row was rewritten by every
// step. The cache index leaves out executions without a key (caching off), which can never be a
// hit. A table rebuild: foreign keys are off while migrating, and the rows keep their ids, so
// events, metrics and triggers still point at them.
constexpr const char* kV4 = R"sql(
CREATE TABLE executions_v4 (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL,
  step TEXT NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL,
  plugin_id TEXT NOT NULL DEFAULT '',
  plugin_version TEXT NOT NULL DEFAULT '',
  plugin_digest TEXT NOT NULL DEFAULT '',
  cache_key TEXT NOT NULL DEFAULT '',
  started_at REAL,
  ended_at REAL,
  error TEXT NOT NULL DEFAULT '',
  log_path TEXT NOT NULL DEFAULT '',
  FOREIGN KEY (run_id, step) REFERENCES run_steps(run_id, step)
);
INSERT INTO executions_v4(id, run_id, step, attempt, state, plugin_id, plugin_version,
                          plugin_digest, cache_key, started_at, ended_at, error, log_path)
  SELECT id, run_id, step, attempt, state, plugin_id, plugin_version, plugin_digest, cache_key,
         started_at, ended_at, error, log_path FROM executions;
DROP TABLE executions;
ALTER TABLE executions_v4 RENAME TO executions;
CREATE INDEX executions_run ON executions(run_id, step);
CREATE INDEX executions_key ON executions(cache_key) WHERE cache_key <> '';
)sql";

// Version 5: where an attempt runs outside the engine (a pid, a Slurm job id), so that a
// restarted engine can find it again instead of running it a second time.
constexpr const char* kV5 = R"sql(
ALTER TABLE executions ADD COLUMN external_id TEXT NOT NULL DEFAULT '';
)sql";

// Version 6: one owner per run (the engine executing it: a lease with a heartbeat, and a cancel
// request another process can leave for it), and what the store found wrong with its blobs.
constexpr const char* kV6 = R"sql(
CREATE TABLE run_leases (
  run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
  token TEXT NOT NULL,
  pid INTEGER NOT NULL,
  pid_start INTEGER NOT NULL DEFAULT 0,
  host TEXT NOT NULL,
  acquired_at REAL NOT NULL,
  heartbeat_at REAL NOT NULL,
  cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE blob_incidents (
  id INTEGER PRIMARY KEY,
  digest TEXT NOT NULL,
  found_at REAL NOT NULL,
  problem TEXT NOT NULL,
  action TEXT NOT NULL,
  quarantined_to TEXT NOT NULL DEFAULT '',
  run_id INTEGER,
  step TEXT NOT NULL DEFAULT ''
);
CREATE INDEX blob_incidents_digest ON blob_incidents(digest);
)sql";

// Version 7: where an attempt runs as the executor last saw it (a Slurm job's node, state and
// reason), as JSON, so that `show` and `runs --json` can say it while the job runs and after.
constexpr const char* kV7 = R"sql(
ALTER TABLE executions ADD COLUMN placement TEXT NOT NULL DEFAULT '{}';
)sql";

// Version 8: what people did through the web UI (cancel, resume, rerun, rollback, promote): who,
// when, to what, and how it went. Append-only; kept when gc removes the runs it names.
constexpr const char* kV8 = R"sql(
CREATE TABLE actions (
  id INTEGER PRIMARY KEY,
  created_at REAL NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  detail_json TEXT NOT NULL DEFAULT '{}',
  outcome TEXT NOT NULL DEFAULT ''
);
CREATE INDEX actions_target ON actions(target, id);
)sql";

constexpr const char* kSchemaVersionTable = R"sql(
CREATE TABLE IF NOT EXISTS schema_version (
  version INTEGER PRIMARY KEY,
  applied_at REAL NOT NULL
);
)sql";

}  // namespace

const std::vector<std::string>& migrations() {
  static const std::vector<std::string> kMigrations = {kV1, kV2, kV3, kV4, kV5, kV6, kV7, kV8};
  return kMigrations;
}

int schema_version_of(SQLite::Database& db) {
  if (!db.tableExists("schema_version")) return 0;
  SQLite::Statement q(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
  q.executeStep();
  return q.getColumn(0).getInt();
}

Status migrate(SQLite::Database& db, const std::filesystem::path& db_path) {
  const int supported = static_cast<int>(migrations().size());
  auto too_new = [&](int found) {
    return Status::precondition("database " + db_path.string() + " has schema version " +
                                std::to_string(found) + ", this llmops supports up to " +
                                std::to_string(supported) + ": upgrade llmops");
  };
  // Cheap check first, so an old binary never even takes the write lock on a newer database.
  if (int v = schema_version_of(db); v > supported) return too_new(v);
  for (;;) {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    db.exec(kSchemaVersionTable);
    // Re-read under the write lock: another process may have migrated meanwhile.
    const int current = schema_version_of(db);
    if (current > supported) return too_new(current);
    if (current == supported) {
      tx.commit();
      return Status::ok();
    }
    db.exec(migrations()[static_cast<size_t>(current)]);
    if (db.execAndGet("SELECT COUNT(*) FROM pragma_foreign_key_check").getInt() != 0)
      return Status::internal("database " + db_path.string() + ": migration to version " +
                              std::to_string(current + 1) +
                              " would break foreign keys; nothing was changed");
    SQLite::Statement rec(db, "INSERT INTO schema_version(version, applied_at) VALUES (?, ?)");
    rec.bind(1, current + 1);
    rec.bind(2, base::unix_now());
    rec.exec();
    tx.commit();
  }
}

}  // namespace llmops::store
