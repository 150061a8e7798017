// Store: executions (one per attempt), their artifacts, lineage events and metrics, and the cache.
#include <cctype>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "base/time.hpp"
#include "store/store.hpp"
#include "store/store_impl.hpp"

namespace llmops::store {
namespace detail {

ExecutionInfo read_execution(SQLite::Statement& q, int first) {
  ExecutionInfo e;
  int i = first;
  e.id = q.getColumn(i++).getInt64();
  e.run_id = q.getColumn(i++).getInt64();
  e.step = col_text(q.getColumn(i++));
  e.attempt = q.getColumn(i++).getInt();
  e.state = col_state(q.getColumn(i++),
                      [&] { return "executions.state of execution " + std::to_string(e.id); });
  e.plugin_id = col_text(q.getColumn(i++));
  e.plugin_version = col_text(q.getColumn(i++));
  e.plugin_digest = col_text(q.getColumn(i++));
  e.cache_key = col_text(q.getColumn(i++));
  e.error = col_text(q.getColumn(i++));
  e.log_path = col_text(q.getColumn(i++));
  e.started_at = col_time(q.getColumn(i++));
  e.ended_at = col_time(q.getColumn(i++));
  e.external_id = col_text(q.getColumn(i++));
  e.placement_json = col_text(q.getColumn(i++));
  return e;
}

Artifact read_artifact(SQLite::Statement& q, int first) {
  Artifact a;
  int i = first;
  a.digest = col_text(q.getColumn(i++));
  a.kind = col_text(q.getColumn(i++));
  a.name = col_text(q.getColumn(i++));
  a.uri = col_text(q.getColumn(i++));
  a.size = q.getColumn(i++).getInt64();
  a.metadata_json = col_text(q.getColumn(i++));
  a.created_at = col_time(q.getColumn(i++));
  return a;
}

}  // namespace detail

namespace {

bool step_exists(SQLite::Database& db, int64_t run_id, const std::string& step) {
  detail::Cached q(db, "SELECT 1 FROM run_steps WHERE run_id = ? AND step = ?");
  q.bind(1, run_id);
  q.bind(2, step);
  return q.executeStep();
}

Status no_step(int64_t run_id, const std::string& step) {
  return Status::not_found("no step '" + step + "' in run " + std::to_string(run_id) +
                           " (steps are planned by create_run)");
}

// Artifacts (INSERT OR IGNORE by digest), events and metrics of one execution. Runs inside the
// caller's transaction.
Status write_result(SQLite::Database& db, int64_t execution_id, const ExecutionResult& result,
                    double now) {
  detail::Cached art(db,
                     "INSERT OR IGNORE INTO artifacts(digest, kind, name, uri, size, "
                     "metadata_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
  detail::Cached ev(db,
                    "INSERT OR IGNORE INTO events(execution_id, artifact_digest, direction, "
                    "role) VALUES (?, ?, ?, ?)");
  for (const auto* list : {&result.inputs, &result.outputs}) {
    const char* direction = list == &result.inputs ? "input" : "output";
    for (const Event& e : *list) {
      const Artifact& a = e.artifact;
      if (a.digest.empty()) {
        return Status::invalid(std::string(direction) + " '" + e.role + "' has no digest");
      }
      art.bind(1, a.digest);
      art.bind(2, a.kind);
      art.bind(3, a.name);
      art.bind(4, a.uri);
      art.bind(5, a.size);
      art.bind(6, a.metadata_json.empty() ? "{}" : a.metadata_json);
      art.bind(7, a.created_at != 0 ? a.created_at : now);
      art.exec();
      art.reset();
      ev.bind(1, execution_id);
      ev.bind(2, a.digest);
      ev.bind(3, direction);
      ev.bind(4, e.role);
      ev.exec();
      ev.reset();
    }
  }
  detail::Cached met(
      db, "INSERT INTO metrics(execution_id, name, value, step, time) VALUES (?, ?, ?, ?, ?)");
  for (const Metric& m : result.metrics) {
    met.bind(1, execution_id);
    met.bind(2, m.name);
    met.bind(3, m.value);
    met.bind(4, m.step);
    met.bind(5, m.time != 0 ? m.time : now);
    met.exec();
    met.reset();
  }
  return Status::ok();
}

}  // namespace

Result<int64_t> Store::begin_execution(int64_t run_id, const std::string& step, int attempt,
                                       const std::string& plugin_id,
                                       const std::string& plugin_version,
                                       const std::string& plugin_digest,
                                       const std::string& cache_key, const std::string& log_path) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("begin_execution", [&]() -> Result<int64_t> {
    SQLite::Database& db = impl_->db;
    const double now = base::unix_now();
    detail::WriteTx tx(db, impl_->batch);
    if (!step_exists(db, run_id, step)) return no_step(run_id, step);
    detail::Cached ins(db,
                       "INSERT INTO executions(run_id, step, attempt, state, plugin_id, "
                       "plugin_version, plugin_digest, cache_key, started_at, log_path) "
                       "VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)");
    ins.bind(1, run_id);
    ins.bind(2, step);
    ins.bind(3, attempt);
    ins.bind(4, plugin_id);
    ins.bind(5, plugin_version);
    ins.bind(6, plugin_digest);
    ins.bind(7, cache_key);
    ins.bind(8, now);
    ins.bind(9, log_path);
    ins.exec();
    const int64_t id = db.getLastInsertRowid();
    // The step's start is its first attempt's start; later attempts keep it.
    detail::Cached up(db,
                      "UPDATE run_steps SET state = 'running', attempts = ?1, reason = '', "
                      "started_at = CASE WHEN started_at IS NULL OR ?1 <= 1 THEN ?2 "
                      "ELSE started_at END, ended_at = NULL WHERE run_id = ?3 AND step = ?4");
    up.bind(1, attempt);
    up.bind(2, now);
    up.bind(3, run_id);
    up.bind(4, step);
    up.exec();
    tx.commit();
    return id;
  });
}

Status Store::finish_execution(int64_t execution_id, const ExecutionResult& result) {
  const State outcome = result.state;
  if (outcome != State::kSucceeded && outcome != State::kFailed && outcome != State::kCancelled) {
    return Status::invalid(
        std::string("finish_execution: state must be succeeded, failed or cancelled, not ") +
        to_string(outcome));
  }
  std::lock_guard lock(impl_->mu);
  return detail::guarded("finish_execution", [&]() -> Status {
    SQLite::Database& db = impl_->db;
    const double now = base::unix_now();
    detail::WriteTx tx(db, impl_->batch);
    detail::Cached get(db, "SELECT run_id, step, state FROM executions WHERE id = ?");
    get.bind(1, execution_id);
    if (!get.executeStep())
      return Status::not_found("no execution " + std::to_string(execution_id));
    const int64_t run_id = get.getColumn(0).getInt64();
    const std::string step = get.getColumn(1).getString();
    const State state = detail::col_state(get.getColumn(2), [&] {
      return "executions.state of execution " + std::to_string(execution_id);
    });
    if (state != State::kRunning) {
      return Status::precondition("execution " + std::to_string(execution_id) + " is already " +
                                  to_string(state));
    }
    detail::Cached up(db, "UPDATE executions SET state = ?, error = ?, ended_at = ? WHERE id = ?");
    up.bind(1, to_string(outcome));
    up.bind(2, result.error);
    up.bind(3, now);
    up.bind(4, execution_id);
    up.exec();
    if (Status s = write_result(db, execution_id, result, now); !s) return s;
    detail::Cached st(db,
                      "UPDATE run_steps SET state = ?, reason = ?, ended_at = ? "
                      "WHERE run_id = ? AND step = ?");
    st.bind(1, to_string(outcome));
    st.bind(2, result.error);
    st.bind(3, now);
    st.bind(4, run_id);
    st.bind(5, step);
    st.exec();
    tx.commit();
    return Status::ok();
  });
}

namespace {

// UPDATE executions SET <column> = text for one execution (`sql` names the column).
Status set_execution_text(std::mutex& mu, SQLite::Database& db, detail::BatchState& batch,
                          const char* what, const char* sql, int64_t execution_id,
                          const std::string& text) {
  std::lock_guard lock(mu);
  return detail::guarded(what, [&]() -> Status {
    detail::WriteTx tx(db, batch);
    detail::Cached q(db, sql);
    q.bind(1, text);
    q.bind(2, execution_id);
    if (q.exec() != 1) return Status::not_found("no execution " + std::to_string(execution_id));
    tx.commit();
    return Status::ok();
  });
}

}  // namespace

Status Store::set_execution_external_id(int64_t execution_id, const std::string& external_id) {
  return set_execution_text(impl_->mu, impl_->db, impl_->batch, "set_execution_external_id",
                            "UPDATE executions SET external_id = ? WHERE id = ?", execution_id,
                            external_id);
}

Status Store::set_execution_placement(int64_t execution_id, const std::string& placement_json) {
  return set_execution_text(impl_->mu, impl_->db, impl_->batch, "set_execution_placement",
                            "UPDATE executions SET placement = ? WHERE id = ?", execution_id,
                            placement_json);
}

Result<int> Store::fail_interrupted(int64_t run_id, const std::vector<int64_t>& keep) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("fail_interrupted", [&]() -> Result<int> {
    SQLite::Database& db = impl_->db;
    detail::WriteTx tx(db, impl_->batch);
    std::string keep_json = "[";
    for (size_t i = 0; i < keep.size(); ++i) keep_json += (i ? "," : "") + std::to_string(keep[i]);
    keep_json += "]";
    // Steps left running (with or without an execution row yet) go back to pending, so a resume
    // runs them again.
    detail::Cached steps(
        db,
        "UPDATE run_steps SET state = 'pending', ended_at = NULL "
        "WHERE run_id = ?1 AND (state = 'running' OR step IN (SELECT step FROM "
        "executions WHERE run_id = ?1 AND state = 'running')) AND step NOT IN "
        "(SELECT step FROM executions WHERE id IN (SELECT value FROM json_each(?2)))");
    steps.bind(1, run_id);
    steps.bind(2, keep_json);
    steps.exec();
    detail::Cached ex(db,
                      "UPDATE executions SET state = 'failed', "
                      "error = 'interrupted (engine stopped)', ended_at = ? "
                      "WHERE run_id = ? AND state = 'running' "
                      "AND id NOT IN (SELECT value FROM json_each(?))");
    ex.bind(1, base::unix_now());
    ex.bind(2, run_id);
    ex.bind(3, keep_json);
    const int count = ex.exec();
    tx.commit();
    return count;
  });
}

namespace {

Result<std::vector<ExecutionInfo>> executions_where(std::mutex& mu, SQLite::Database& db,
                                                    const char* what, const std::string& where,
                                                    int64_t run_id) {
  std::lock_guard lock(mu);
  return detail::guarded(what, [&]() -> Result<std::vector<ExecutionInfo>> {
    detail::Cached q(db, std::string("SELECT ") + detail::kExecutionColumns +
                             " FROM executions WHERE " + where + " ORDER BY id");
    q.bind(1, run_id);
    std::vector<ExecutionInfo> out;
    while (q.executeStep()) out.push_back(detail::read_execution(q));
    return out;
  });
}

}  // namespace

Result<std::vector<ExecutionInfo>> Store::list_executions(int64_t run_id) {
  return executions_where(impl_->mu, impl_->db, "list_executions", "run_id = ?", run_id);
}

Result<std::vector<ExecutionInfo>> Store::list_external_executions(int64_t run_id) {
  return executions_where(impl_->mu, impl_->db, "list_external_executions",
                          "run_id = ? AND external_id <> ''", run_id);
}

Result<std::vector<Event>> Store::execution_events(int64_t execution_id, bool outputs) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("execution_events", [&]() -> Result<std::vector<Event>> {
    detail::Cached q(impl_->db,
                     "SELECT e.role, a.digest, a.kind, a.name, a.uri, a.size, a.metadata_json, "
                     "a.created_at FROM events e JOIN artifacts a ON a.digest = e.artifact_digest "
                     "WHERE e.execution_id = ? AND e.direction = ? ORDER BY e.id");
    q.bind(1, execution_id);
    q.bind(2, outputs ? "output" : "input");
    std::vector<Event> out;
    while (q.executeStep()) {
      Event e;
      e.role = detail::col_text(q.getColumn(0));
      e.artifact = detail::read_artifact(q, 1);
      out.push_back(std::move(e));
    }
    return out;
  });
}

Result<std::vector<Metric>> Store::execution_metrics(int64_t execution_id) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("execution_metrics", [&]() -> Result<std::vector<Metric>> {
    detail::Cached q(impl_->db,
                     "SELECT name, value, step, time FROM metrics WHERE execution_id = ? "
                     "ORDER BY id");
    q.bind(1, execution_id);
    std::vector<Metric> out;
    while (q.executeStep()) {
      Metric m;
      m.name = detail::col_text(q.getColumn(0));
      m.value = q.getColumn(1).getDouble();
      m.step = q.getColumn(2).getInt64();
      m.time = detail::col_time(q.getColumn(3));
      out.push_back(std::move(m));
    }
    return out;
  });
}

// --- Paged reads for `llmops show`: a fixed number of queries per page, each an index lookup per
// row it returns (json_each lists the keys), so a page never costs the run's size times itself.

namespace {

constexpr const char* kStepColumns = "run_id, step, state, reason, attempts, started_at, ended_at";

}  // namespace

Result<Store::StepPage> Store::list_steps_page(int64_t run_id, int64_t offset, int64_t limit) {
  if (offset < 0) return Status::invalid("list_steps_page: offset must be 0 or more");
  std::lock_guard lock(impl_->mu);
  return detail::guarded("list_steps_page", [&]() -> Result<StepPage> {
    SQLite::Database& db = impl_->db;
    detail::Cached run(db, "SELECT 1 FROM runs WHERE id = ?");
    run.bind(1, run_id);
    if (!run.executeStep()) return Status::not_found("no run " + std::to_string(run_id));
    StepPage page;
    detail::Cached count(db, "SELECT COUNT(*) FROM run_steps WHERE run_id = ?");
    count.bind(1, run_id);
    if (count.executeStep()) page.total = count.getColumn(0).getInt64();
    detail::Cached q(db, std::string("SELECT ") + kStepColumns +
                             " FROM run_steps WHERE run_id = ? ORDER BY ordinal, step "
                             "LIMIT ? OFFSET ?");
    q.bind(1, run_id);
    q.bind(2, limit < 0 ? int64_t{-1} : limit);
    q.bind(3, offset);
    while (q.executeStep()) page.steps.push_back(detail::read_step(q));
    return page;
  });
}

Result<std::optional<StepInfo>> Store::get_step(int64_t run_id, const std::string& step) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("get_step", [&]() -> Result<std::optional<StepInfo>> {
    detail::Cached q(impl_->db, std::string("SELECT ") + kStepColumns +
                                    " FROM run_steps WHERE run_id = ? AND step = ?");
    q.bind(1, run_id);
    q.bind(2, step);
    if (!q.executeStep()) return std::optional<StepInfo>{};
    return std::optional<StepInfo>(detail::read_step(q));
  });
}

Result<std::vector<Store::ExecutionDetail>> Store::execution_details(
    int64_t run_id, const std::vector<std::string>& steps) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("execution_details", [&]() -> Result<std::vector<ExecutionDetail>> {
    SQLite::Database& db = impl_->db;
    std::vector<ExecutionDetail> out;
    if (steps.empty()) return out;
    // executions_run (run_id, step): one lookup per step.
    detail::Cached ex(db, std::string("SELECT ") + detail::kExecutionColumns +
                              " FROM executions WHERE run_id = ? AND step IN "
                              "(SELECT value FROM json_each(?)) ORDER BY id");
    ex.bind(1, run_id);
    ex.bind(2, nlohmann::json(steps).dump());
    std::unordered_map<int64_t, size_t> index;  // execution id -> position in out
    nlohmann::json ids = nlohmann::json::array();
    while (ex.executeStep()) {
      ExecutionDetail d;
      d.info = detail::read_execution(ex);
      index.emplace(d.info.id, out.size());
      ids.push_back(d.info.id);
      out.push_back(std::move(d));
    }
    if (out.empty()) return out;
    const std::string id_list = ids.dump();
    // The events' unique index leads with execution_id: one lookup per execution.
    detail::Cached ev(db,
                      "SELECT e.execution_id, e.direction, e.role, a.digest, a.kind, a.name, "
                      "a.uri, a.size, a.metadata_json, a.created_at FROM events e "
                      "JOIN artifacts a ON a.digest = e.artifact_digest "
                      "WHERE e.execution_id IN (SELECT value FROM json_each(?)) "
                      "ORDER BY e.execution_id, e.id");
    ev.bind(1, id_list);
    while (ev.executeStep()) {
      auto it = index.find(ev.getColumn(0).getInt64());
      if (it == index.end()) continue;
      Event e;
      e.role = detail::col_text(ev.getColumn(2));
      e.artifact = detail::read_artifact(ev, 3);
      auto& d = out[it->second];
      (ev.getColumn(1).getString() == "output" ? d.outputs : d.inputs).push_back(std::move(e));
    }
    // metrics_execution (execution_id, name).
    detail::Cached met(db,
                       "SELECT execution_id, name, value, step, time FROM metrics "
                       "WHERE execution_id IN (SELECT value FROM json_each(?)) "
                       "ORDER BY execution_id, id");
    met.bind(1, id_list);
    while (met.executeStep()) {
      auto it = index.find(met.getColumn(0).getInt64());
      if (it == index.end()) continue;
      Metric m;
      m.name = detail::col_text(met.getColumn(1));
      m.value = met.getColumn(2).getDouble();
      m.step = met.getColumn(3).getInt64();
      m.time = detail::col_time(met.getColumn(4));
      out[it->second].metrics.push_back(std::move(m));
    }
    return out;
  });
}

Result<std::optional<ExecutionInfo>> Store::find_cached(const std::string& cache_key) {
  if (cache_key.empty()) return std::optional<ExecutionInfo>{};
  std::lock_guard lock(impl_->mu);
  return detail::guarded("find_cached", [&]() -> Result<std::optional<ExecutionInfo>> {
    detail::Cached q(impl_->db,
                     std::string("SELECT ") + detail::kExecutionColumns +
                         " FROM executions WHERE cache_key = ? AND cache_key <> '' "
                         "AND state IN ('succeeded', 'cached') ORDER BY id DESC LIMIT 1");
    q.bind(1, cache_key);
    if (!q.executeStep()) return std::optional<ExecutionInfo>{};
    return std::optional<ExecutionInfo>(detail::read_execution(q));
  });
}

Result<int64_t> Store::record_cached(int64_t run_id, const std::string& step,
                                     const std::string& plugin_id,
                                     const std::string& plugin_version,
                                     const std::string& plugin_digest, const std::string& cache_key,
                                     const ExecutionResult& result) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("record_cached", [&]() -> Result<int64_t> {
    SQLite::Database& db = impl_->db;
    const double now = base::unix_now();
    detail::WriteTx tx(db, impl_->batch);
    if (!step_exists(db, run_id, step)) return no_step(run_id, step);
    detail::Cached ins(db,
                       "INSERT INTO executions(run_id, step, attempt, state, plugin_id, "
                       "plugin_version, plugin_digest, cache_key, started_at, ended_at) "
                       "VALUES (?, ?, 0, 'cached', ?, ?, ?, ?, ?, ?)");
    ins.bind(1, run_id);
    ins.bind(2, step);
    ins.bind(3, plugin_id);
    ins.bind(4, plugin_version);
    ins.bind(5, plugin_digest);
    ins.bind(6, cache_key);
    ins.bind(7, now);
    ins.bind(8, now);
    ins.exec();
    const int64_t id = db.getLastInsertRowid();
    if (Status s = write_result(db, id, result, now); !s) return s;
    detail::Cached st(db,
                      "UPDATE run_steps SET state = 'cached', reason = '', "
                      "started_at = COALESCE(started_at, ?1), ended_at = ?1 "
                      "WHERE run_id = ?2 AND step = ?3");
    st.bind(1, now);
    st.bind(2, run_id);
    st.bind(3, step);
    st.exec();
    tx.commit();
    return id;
  });
}

Result<std::vector<Artifact>> Store::list_artifacts(int limit) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("list_artifacts", [&]() -> Result<std::vector<Artifact>> {
    detail::Cached q(impl_->db, std::string("SELECT ") + detail::kArtifactColumns +
                                    " FROM artifacts ORDER BY created_at DESC, digest LIMIT ?");
    q.bind(1, limit < 0 ? -1 : limit);
    std::vector<Artifact> out;
    while (q.executeStep()) out.push_back(detail::read_artifact(q));
    return out;
  });
}

Result<std::vector<Artifact>> Store::find_artifacts(const std::string& prefix) {
  std::string p = prefix.rfind("sha256:", 0) == 0 ? prefix : "sha256:" + prefix;
  if (p.size() <= 7) return Status::invalid("find_artifacts: empty digest prefix");
  for (char& c : p) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::lock_guard lock(impl_->mu);
  return detail::guarded("find_artifacts", [&]() -> Result<std::vector<Artifact>> {
    // A key range rather than LIKE: no wildcards to escape, and it uses the primary key. '~'
    // sorts after every character a digest contains.
    detail::Cached q(impl_->db, std::string("SELECT ") + detail::kArtifactColumns +
                                    " FROM artifacts WHERE digest >= ?1 AND digest < ?1 || '~' "
                                    "ORDER BY digest");
    q.bind(1, p);
    std::vector<Artifact> out;
    while (q.executeStep()) out.push_back(detail::read_artifact(q));
    return out;
  });
}

}  // namespace llmops::store
