// Store: opening the database, runs and their planned steps. Executions, artifacts and the cache
// are in executions.cpp; lineage queries in lineage.cpp.
#include "store/store.hpp"
#include "base/time.hpp"

#include <sqlite3.h>

#include <chrono>
#include <system_error>
#include <thread>

#include "store/migrations.hpp"
#include "store/store_impl.hpp"

namespace llmops::store {

int schema_version_supported() {
  return static_cast<int>(migrations().size());
}
namespace {
constexpr int kBusyTimeoutMs = 10000;
constexpr int kCheckpointSoftFrames = 1000, kCheckpointHardFrames = 4000;
}  // namespace

RunInfo detail::read_run(SQLite::Statement& q) {
  RunInfo r;
  r.id = q.getColumn(0).getInt64();
  r.pipeline = detail::col_text(q.getColumn(1));
  r.pipeline_file = detail::col_text(q.getColumn(2));
  r.spec_digest = detail::col_text(q.getColumn(3));
  r.spec_text = detail::col_text(q.getColumn(4));
  r.params_json = detail::col_text(q.getColumn(5));
  r.trigger = detail::col_text(q.getColumn(6));
  if (!q.getColumn(7).isNull()) r.parent_run = q.getColumn(7).getInt64();
  r.cycle = q.getColumn(8).getInt();
  r.trigger_info_json = detail::col_text(q.getColumn(9));
  r.state = detail::col_state(q.getColumn(10),
                              [&] { return "runs.state of run " + std::to_string(r.id); });
  r.error = detail::col_text(q.getColumn(11));
  r.created_at = detail::col_time(q.getColumn(12));
  r.started_at = detail::col_time(q.getColumn(13));
  r.ended_at = detail::col_time(q.getColumn(14));
  return r;
}

namespace {
using detail::kRunColumns;
using detail::read_run;

// Switching to WAL needs a brief exclusive lock; on a brand-new file opened by several processes
// at once it can report busy, so retry for a while.
void enable_wal(SQLite::Database& db) {
  for (int i = 0;; ++i) {
    try {
      db.exec("PRAGMA journal_mode=WAL");
      return;
    } catch (const SQLite::Exception& e) {
      if (i >= 100 || (e.getErrorCode() != SQLITE_BUSY && e.getErrorCode() != SQLITE_LOCKED)) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

}  // namespace

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

const std::filesystem::path& Store::home() const {
  return impl_->home;
}
BlobStore& Store::blobs() {
  return impl_->blob_store;
}

Result<std::unique_ptr<Store>> Store::open(const std::filesystem::path& home) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(home / "blobs", ec);
  if (ec)
    return Status::internal("cannot create " + (home / "blobs").string() + ": " + ec.message());
  const fs::path db_path = home / "llmops.db";
  return detail::guarded("open " + db_path.string(), [&]() -> Result<std::unique_ptr<Store>> {
    auto impl = std::make_unique<Impl>(home, db_path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE,
                                       kBusyTimeoutMs);
    SQLite::Database& db = impl->db;
    enable_wal(db);
    db.exec("PRAGMA synchronous=NORMAL");
    // Foreign keys are off while migrating: a table rebuild drops a table others refer to.
    db.exec("PRAGMA foreign_keys=OFF");
    if (Status s = migrate(db, db_path); !s) return s;
    db.exec("PRAGMA foreign_keys=ON");
    // Checkpoints in the background every ~4 MB of log; the writer itself only past ~16 MB.
    impl->checkpointer = std::make_unique<detail::Checkpointer>(
        db.getHandle(), db_path, kCheckpointSoftFrames, kCheckpointHardFrames);
    make_reserve(home);
    return std::unique_ptr<Store>(new Store(std::move(impl)));
  });
}

Result<int64_t> Store::create_run(const NewRun& run, const std::vector<std::string>& steps) {
  if (run.pipeline.empty()) return Status::invalid("create_run: empty pipeline name");
  std::lock_guard lock(impl_->mu);
  return detail::guarded("create_run", [&]() -> Result<int64_t> {
    SQLite::Database& db = impl_->db;
    const double now = base::unix_now();
    detail::WriteTx tx(db, impl_->batch);
    detail::Cached pipe(db,
                        "INSERT INTO pipelines(name, file, last_spec_digest, created_at, "
                        "updated_at) VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT(name) DO UPDATE SET "
                        "file = excluded.file, last_spec_digest = excluded.last_spec_digest, "
                        "updated_at = excluded.updated_at");
    pipe.bind(1, run.pipeline);
    pipe.bind(2, run.pipeline_file);
    pipe.bind(3, run.spec_digest);
    pipe.bind(4, now);
    pipe.exec();

    detail::Cached ins(db,
                       "INSERT INTO runs(pipeline, pipeline_file, spec_digest, spec_text, "
                       "params_json, state, trigger_kind, trigger_info_json, parent_run, cycle, "
                       "created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)");
    ins.bind(1, run.pipeline);
    ins.bind(2, run.pipeline_file);
    ins.bind(3, run.spec_digest);
    ins.bind(4, run.spec_text);
    ins.bind(5, run.params_json.empty() ? "{}" : run.params_json);
    ins.bind(6, run.trigger);
    ins.bind(7, run.trigger_info_json.empty() ? "{}" : run.trigger_info_json);
    if (run.parent_run) {
      ins.bind(8, *run.parent_run);
    } else {
      ins.bind(8);
    }
    ins.bind(9, run.cycle);
    ins.bind(10, now);
    ins.exec();
    const int64_t run_id = db.getLastInsertRowid();

    detail::Cached step(
        db, "INSERT INTO run_steps(run_id, step, ordinal, state) VALUES (?, ?, ?, 'pending')");
    int ordinal = 0;
    for (const std::string& name : steps) {
      step.bind(1, run_id);
      step.bind(2, name);
      step.bind(3, ordinal++);
      step.exec();
      step.reset();
    }
    tx.commit();
    return run_id;
  });
}

Status Store::set_run_state(int64_t run_id, State state, const std::string& error) {
  if (!is_run_state(state))
    return Status::invalid(std::string("a run cannot be ") + to_string(state));
  std::lock_guard lock(impl_->mu);
  return detail::guarded("set_run_state", [&]() -> Status {
    SQLite::Database& db = impl_->db;
    detail::WriteTx tx(db, impl_->batch);
    detail::Cached q(db,
                     "UPDATE runs SET state = ?1, error = ?2, "
                     "started_at = CASE WHEN ?1 = 'running' AND started_at IS NULL THEN ?3 "
                     "ELSE started_at END, "
                     "ended_at = CASE WHEN ?1 IN ('succeeded', 'failed', 'cancelled') THEN ?3 "
                     "ELSE NULL END WHERE id = ?4");
    q.bind(1, to_string(state));
    q.bind(2, error);
    q.bind(3, base::unix_now());
    q.bind(4, run_id);
    if (q.exec() == 0) return Status::not_found("no run " + std::to_string(run_id));
    tx.commit();
    return Status::ok();
  });
}

Status Store::set_step_state(int64_t run_id, const std::string& step, State state,
                             const std::string& reason) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("set_step_state", [&]() -> Status {
    SQLite::Database& db = impl_->db;
    detail::WriteTx tx(db, impl_->batch);
    detail::Cached q(db,
                     "UPDATE run_steps SET state = ?1, reason = ?2, "
                     "started_at = CASE WHEN ?1 = 'running' AND started_at IS NULL THEN ?3 "
                     "ELSE started_at END, "
                     "ended_at = CASE WHEN ?1 IN ('succeeded', 'failed', 'skipped', 'cached', "
                     "'cancelled') THEN ?3 ELSE NULL END WHERE run_id = ?4 AND step = ?5");
    q.bind(1, to_string(state));
    q.bind(2, reason);
    q.bind(3, base::unix_now());
    q.bind(4, run_id);
    q.bind(5, step);
    if (q.exec() == 0) {
      return Status::not_found("no step '" + step + "' in run " + std::to_string(run_id));
    }
    tx.commit();
    return Status::ok();
  });
}

Result<RunInfo> Store::get_run(int64_t run_id) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("get_run", [&]() -> Result<RunInfo> {
    detail::Cached q(impl_->db, std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = ?");
    q.bind(1, run_id);
    if (!q.executeStep()) return Status::not_found("no run " + std::to_string(run_id));
    return read_run(q);
  });
}

Result<std::vector<RunInfo>> Store::list_runs(int limit) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("list_runs", [&]() -> Result<std::vector<RunInfo>> {
    detail::Cached q(impl_->db,
                     std::string("SELECT ") + kRunColumns + " FROM runs ORDER BY id DESC LIMIT ?");
    q.bind(1, limit < 0 ? -1 : limit);
    std::vector<RunInfo> out;
    while (q.executeStep()) out.push_back(read_run(q));
    return out;
  });
}

StepInfo detail::read_step(SQLite::Statement& q) {
  StepInfo s;
  s.run_id = q.getColumn(0).getInt64();
  s.step = detail::col_text(q.getColumn(1));
  s.state = detail::col_state(q.getColumn(2), [&] {
    return "run_steps.state of step '" + s.step + "' in run " + std::to_string(s.run_id);
  });
  s.reason = detail::col_text(q.getColumn(3));
  s.attempts = q.getColumn(4).getInt();
  s.started_at = detail::col_time(q.getColumn(5));
  s.ended_at = detail::col_time(q.getColumn(6));
  return s;
}

Result<std::vector<StepInfo>> Store::list_steps(int64_t run_id) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("list_steps", [&]() -> Result<std::vector<StepInfo>> {
    detail::Cached q(impl_->db,
                     "SELECT run_id, step, state, reason, attempts, started_at, ended_at "
                     "FROM run_steps WHERE run_id = ? ORDER BY ordinal, step");
    q.bind(1, run_id);
    std::vector<StepInfo> out;
    while (q.executeStep()) out.push_back(detail::read_step(q));
    return out;
  });
}

}  // namespace llmops::store
