// Internals shared by the store's .cpp files: the Impl behind Store, row readers and the
// exception fence. Internal to store/; the engine includes store.hpp only.
#pragma once

#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>

#include <SQLiteCpp/SQLiteCpp.h>

#include "store/checkpointer.hpp"
#include "store/store.hpp"

namespace llmops::store {

namespace detail {
// A Store::Batch: none open; open with nothing written yet; its transaction begun.
enum class BatchState { kNone, kArmed, kBegun };
}  // namespace detail

struct Store::Impl {
  Impl(std::filesystem::path home_dir, const std::filesystem::path& db_file, int flags, int busy_ms)
      : home(std::move(home_dir)),
        db_path(db_file),
        db(db_file.string(), flags, busy_ms),
        blob_store(home / "blobs") {}

  std::filesystem::path home;
  std::filesystem::path db_path;
  SQLite::Database db;
  std::unique_ptr<detail::Checkpointer> checkpointer;  // after db: goes before it closes
  BlobStore blob_store;
  std::mutex mu;  // one call at a time on the connection
  detail::BatchState batch = detail::BatchState::kNone;
  ~Impl();
};

namespace detail {

// A prepared statement kept for the life of its connection: preparing costs more than running
// the small statements of the hot path. Reset on the way in and out, so no statement holds a read
// transaction open between calls. Used under Impl::mu.
class Cached {
 public:
  Cached(SQLite::Database& db, const std::string& sql);
  ~Cached();
  Cached(const Cached&) = delete;
  Cached& operator=(const Cached&) = delete;

  template <typename... A>
  void bind(A&&... a) {
    q_.bind(std::forward<A>(a)...);
  }
  int exec() { return q_.exec(); }
  bool executeStep() { return q_.executeStep(); }
  SQLite::Column getColumn(int i) { return q_.getColumn(i); }
  void reset() { q_.reset(); }
  operator SQLite::Statement&() { return q_; }

 private:
  SQLite::Statement& q_;
};
// Makes (or keeps) the disk reserve file of a store home (store/health.cpp).
}  // namespace detail
void make_reserve(const std::filesystem::path& home);
namespace detail {
// Drops the statements of a connection that is closing.
void forget_statements(SQLite::Database& db);

// The write transaction of one store call: BEGIN IMMEDIATE ... COMMIT on its own, or a savepoint
// inside an open Store::Batch (whose transaction the first write begins), so each call stays
// all-or-nothing while the batch commits once. Destroyed uncommitted, it rolls back (to the
// savepoint). Used under Impl::mu.
class WriteTx {
 public:
  WriteTx(SQLite::Database& db, BatchState& batch);
  ~WriteTx();
  WriteTx(const WriteTx&) = delete;
  WriteTx& operator=(const WriteTx&) = delete;
  void commit();

 private:
  SQLite::Database& db_;
  bool nested_;
  bool done_ = false;
};

// Column helpers: NULL reads as 0 / "".
inline double col_time(const SQLite::Column& c) {
  return c.isNull() ? 0.0 : c.getDouble();
}
inline std::string col_text(const SQLite::Column& c) {
  return c.isNull() ? "" : c.getString();
}

// A state column; `where()` names it for the message ("runs.state of run 3"), built only on
// failure. A word that does not parse (a hand edit, a newer binary's state) throws, which
// guarded() reports: a silent default would misreport the run.
template <typename Where>
State col_state(const SQLite::Column& c, Where&& where) {
  const char* text = c.isNull() ? "" : c.getText();
  if (auto s = parse_state(text)) return *s;
  throw std::runtime_error(where() + " is '" + text + "', which is not a state this llmops knows");
}

// Binds a time, NULL when 0.
inline void bind_time(SQLite::Statement& q, int index, double t) {
  if (t == 0) {
    q.bind(index);
  } else {
    q.bind(index, t);
  }
}

// Column lists matching the readers below.
inline constexpr const char* kExecutionColumns =
    "id, run_id, step, attempt, state, plugin_id, plugin_version, plugin_digest, cache_key, error, "
    "log_path, started_at, ended_at, external_id, placement";
inline constexpr const char* kArtifactColumns =
    "digest, kind, name, uri, size, metadata_json, created_at";

inline constexpr const char* kRunColumns =
    "id, pipeline, pipeline_file, spec_digest, spec_text, params_json, trigger_kind, parent_run, "
    "cycle, trigger_info_json, state, error, created_at, started_at, ended_at";
// The same columns with '' for spec_text (lists that do not need the YAML).
inline constexpr const char* kRunColumnsNoSpec =
    "id, pipeline, pipeline_file, spec_digest, '', params_json, trigger_kind, parent_run, "
    "cycle, trigger_info_json, state, error, created_at, started_at, ended_at";

RunInfo read_run(SQLite::Statement& q);  // kRunColumns
ExecutionInfo read_execution(SQLite::Statement& q, int first = 0);
Artifact read_artifact(SQLite::Statement& q, int first = 0);
// A run_steps row: run_id, step, state, reason, attempts, started_at, ended_at.
StepInfo read_step(SQLite::Statement& q);

// Runs `f` and turns any exception escaping the SQLite layer into Status::internal.
template <typename F>
auto guarded(const std::string& what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    return Status::internal("store: " + what + ": " + e.what());
  }
}

}  // namespace detail
}  // namespace llmops::store
