// Reads for the web UI (ui/): a read-only connection that never creates or migrates, filtered and
// paged run lists, step counts, metric series, outputs by kind, the change counter the UI's live
// feed polls, and the audit log of the actions taken through it.
#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include "base/time.hpp"
#include "store/migrations.hpp"
#include "store/store_impl.hpp"

namespace llmops::store {

namespace {

constexpr int kReaderBusyMs = 5000;

// "[1,2,3]" for json_each(?), so a list of ids binds as one parameter.
std::string id_array(const std::vector<int64_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s + "]";
}

}  // namespace

Result<std::unique_ptr<Store>> Store::open_reader(const std::filesystem::path& home) {
  namespace fs = std::filesystem;
  const fs::path db_path = home / "llmops.db";
  std::error_code ec;
  if (!fs::is_regular_file(db_path, ec))
    return Status::not_found("no store at " + db_path.string() +
                             ": run a pipeline first (llmops run FILE), or set LLMOPS_HOME");
  return detail::guarded("open " + db_path.string(), [&]() -> Result<std::unique_ptr<Store>> {
    // Read-write without CREATE, then query_only: a reader of a WAL database needs the -shm file,
    // which a read-only open cannot make; query_only still refuses every write.
    auto impl = std::make_unique<Impl>(home, db_path, SQLite::OPEN_READWRITE, kReaderBusyMs);
    impl->db.exec("PRAGMA query_only=ON");
    const int found = schema_version_of(impl->db), supported = schema_version_supported();
    if (found > supported)
      return Status::precondition("schema_too_new: " + db_path.string() + " has schema version " +
                                  std::to_string(found) + ", this llmops supports up to " +
                                  std::to_string(supported) + ": upgrade llmops");
    if (found < supported)
      return Status::precondition("schema_too_old: " + db_path.string() + " has schema version " +
                                  std::to_string(found) +
                                  " (this llmops: " + std::to_string(supported) +
                                  "): run any llmops command, e.g. `llmops runs`, to upgrade it");
    return std::unique_ptr<Store>(new Store(std::move(impl)));
  });
}

Result<RunPage> Store::list_runs_filtered(const RunFilter& f) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("list_runs_filtered", [&]() -> Result<RunPage> {
    std::string sql =
        std::string("SELECT ") + detail::kRunColumnsNoSpec +
        " FROM runs WHERE (?1 = '' OR pipeline = ?1) AND (?2 = '' OR trigger_kind = ?2)"
        " AND (?3 = '[]' OR state IN (SELECT value FROM json_each(?3)))"
        " AND (?4 IS NULL OR id < ?4) ORDER BY id DESC LIMIT ?5";
    SQLite::Statement q(impl_->db, sql);
    nlohmann::json states = f.states;
    q.bind(1, f.pipeline);
    q.bind(2, f.trigger);
    q.bind(3, states.dump());
    if (f.before) {
      q.bind(4, *f.before);
    } else {
      q.bind(4);
    }
    q.bind(5, f.limit + 1);
    RunPage page;
    while (q.executeStep()) page.runs.push_back(detail::read_run(q));
    if (static_cast<int>(page.runs.size()) > f.limit) {
      page.runs.pop_back();
      page.next_before = page.runs.back().id;
    }
    return page;
  });
}

Result<std::vector<std::string>> Store::list_pipelines() {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("list_pipelines", [&]() -> Result<std::vector<std::string>> {
    SQLite::Statement q(impl_->db, "SELECT name FROM pipelines ORDER BY name");
    std::vector<std::string> out;
    while (q.executeStep()) out.push_back(detail::col_text(q.getColumn(0)));
    return out;
  });
}

Result<std::map<int64_t, std::map<std::string, int64_t>>> Store::step_counts(
    const std::vector<int64_t>& runs) {
  std::lock_guard lock(impl_->mu);
  using Out = std::map<int64_t, std::map<std::string, int64_t>>;
  return detail::guarded("step_counts", [&]() -> Result<Out> {
    SQLite::Statement q(impl_->db,
                        "SELECT run_id, state, COUNT(*) FROM run_steps WHERE run_id IN "
                        "(SELECT value FROM json_each(?)) GROUP BY run_id, state");
    q.bind(1, id_array(runs));
    Out out;
    while (q.executeStep())
      out[q.getColumn(0).getInt64()][detail::col_text(q.getColumn(1))] = q.getColumn(2).getInt64();
    return out;
  });
}

Result<std::map<int64_t, std::vector<int64_t>>> Store::feedback_children(
    const std::vector<int64_t>& runs) {
  std::lock_guard lock(impl_->mu);
  using Out = std::map<int64_t, std::vector<int64_t>>;
  return detail::guarded("feedback_children", [&]() -> Result<Out> {
    SQLite::Statement q(impl_->db,
                        "SELECT parent_run, id FROM runs WHERE parent_run IN "
                        "(SELECT value FROM json_each(?)) ORDER BY id");
    q.bind(1, id_array(runs));
    Out out;
    while (q.executeStep()) out[q.getColumn(0).getInt64()].push_back(q.getColumn(1).getInt64());
    return out;
  });
}

Result<std::vector<RunInfo>> Store::runs_changed(int64_t after_id, const std::vector<int64_t>& ids,
                                                 double ended_after) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("runs_changed", [&]() -> Result<std::vector<RunInfo>> {
    SQLite::Statement q(impl_->db, std::string("SELECT ") + detail::kRunColumnsNoSpec +
                                       " FROM runs WHERE id > ?1 OR state IN ('pending', "
                                       "'running') OR id IN (SELECT value FROM json_each(?2)) "
                                       "OR ended_at > ?3 ORDER BY id");
    q.bind(1, after_id);
    q.bind(2, id_array(ids));
    q.bind(3, ended_after);
    std::vector<RunInfo> out;
    while (q.executeStep()) out.push_back(detail::read_run(q));
    return out;
  });
}

Result<std::vector<std::string>> Store::metric_names(const std::vector<int64_t>& runs) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("metric_names", [&]() -> Result<std::vector<std::string>> {
    SQLite::Statement q(impl_->db,
                        "SELECT DISTINCT m.name FROM executions e JOIN metrics m ON "
                        "m.execution_id = e.id WHERE e.run_id IN (SELECT value FROM json_each(?)) "
                        "ORDER BY m.name");
    q.bind(1, id_array(runs));
    std::vector<std::string> out;
    while (q.executeStep()) out.push_back(detail::col_text(q.getColumn(0)));
    return out;
  });
}

Result<std::vector<MetricPoint>> Store::metric_series(const std::vector<int64_t>& runs,
                                                      const std::string& name) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("metric_series", [&]() -> Result<std::vector<MetricPoint>> {
    SQLite::Statement q(impl_->db,
                        "SELECT e.run_id, e.id, e.step, e.attempt, m.value, m.step, m.time "
                        "FROM executions e JOIN metrics m ON m.execution_id = e.id AND m.name = ?2 "
                        "WHERE e.run_id IN (SELECT value FROM json_each(?1)) ORDER BY e.run_id, "
                        "e.id, m.id");
    q.bind(1, id_array(runs));
    q.bind(2, name);
    std::vector<MetricPoint> out;
    while (q.executeStep()) {
      MetricPoint p;
      p.run_id = q.getColumn(0).getInt64();
      p.execution_id = q.getColumn(1).getInt64();
      p.step = detail::col_text(q.getColumn(2));
      p.attempt = q.getColumn(3).getInt();
      p.metric.name = name;
      p.metric.value = q.getColumn(4).getDouble();
      p.metric.step = q.getColumn(5).getInt64();
      p.metric.time = detail::col_time(q.getColumn(6));
      out.push_back(std::move(p));
    }
    return out;
  });
}

Result<std::vector<ProducedArtifact>> Store::outputs_by_kind(const std::string& kind,
                                                             const std::string& plugin_prefix,
                                                             const std::string& pipeline,
                                                             int limit) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("outputs_by_kind", [&]() -> Result<std::vector<ProducedArtifact>> {
    SQLite::Statement q(
        impl_->db,
        "SELECT a.digest, a.kind, a.name, a.uri, a.size, a.metadata_json, a.created_at, e.run_id, "
        "e.id, e.step, r.pipeline, e.plugin_id, ev.role FROM artifacts a JOIN events ev ON "
        "ev.artifact_digest = a.digest AND ev.direction = 'output' JOIN executions e ON e.id = "
        "ev.execution_id JOIN runs r ON r.id = e.run_id WHERE a.kind = ?1 AND "
        "substr(e.plugin_id, 1, length(?2)) = ?2 AND (?3 = '' OR r.pipeline = ?3) "
        "ORDER BY e.id DESC LIMIT ?4");
    q.bind(1, kind);
    q.bind(2, plugin_prefix);
    q.bind(3, pipeline);
    q.bind(4, limit);
    std::vector<ProducedArtifact> out;
    while (q.executeStep()) {
      ProducedArtifact p;
      p.artifact = detail::read_artifact(q, 0);
      p.run_id = q.getColumn(7).getInt64();
      p.execution_id = q.getColumn(8).getInt64();
      p.step = detail::col_text(q.getColumn(9));
      p.pipeline = detail::col_text(q.getColumn(10));
      p.plugin_id = detail::col_text(q.getColumn(11));
      p.role = detail::col_text(q.getColumn(12));
      out.push_back(std::move(p));
    }
    return out;
  });
}

Result<std::vector<ArtifactUse>> Store::artifact_uses(const std::string& digest) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("artifact_uses", [&]() -> Result<std::vector<ArtifactUse>> {
    SQLite::Statement q(impl_->db,
                        "SELECT e.run_id, e.id, e.step, ev.direction, ev.role FROM events ev JOIN "
                        "executions e ON e.id = ev.execution_id WHERE ev.artifact_digest = ? "
                        "ORDER BY e.id");
    q.bind(1, digest);
    std::vector<ArtifactUse> out;
    while (q.executeStep())
      out.push_back({q.getColumn(0).getInt64(), q.getColumn(1).getInt64(),
                     detail::col_text(q.getColumn(2)), detail::col_text(q.getColumn(3)),
                     detail::col_text(q.getColumn(4))});
    return out;
  });
}

Result<int64_t> Store::data_version() {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("data_version", [&]() -> Result<int64_t> {
    return impl_->db.execAndGet("PRAGMA data_version").getInt64();
  });
}

Result<int> Store::schema_version() {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("schema_version",
                         [&]() -> Result<int> { return schema_version_of(impl_->db); });
}

Result<int64_t> Store::record_action(const ActionRecord& a) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("record_action", [&]() -> Result<int64_t> {
    detail::WriteTx tx(impl_->db, impl_->batch);
    SQLite::Statement q(impl_->db,
                        "INSERT INTO actions(created_at, actor, action, target, detail_json, "
                        "outcome) VALUES (?, ?, ?, ?, ?, ?)");
    q.bind(1, base::unix_now());
    q.bind(2, a.actor);
    q.bind(3, a.action);
    q.bind(4, a.target);
    q.bind(5, a.detail_json.empty() ? "{}" : a.detail_json);
    q.bind(6, a.outcome);
    q.exec();
    const int64_t id = impl_->db.getLastInsertRowid();
    tx.commit();
    return id;
  });
}

Result<std::vector<ActionRecord>> Store::list_actions(const std::string& target, int limit) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("list_actions", [&]() -> Result<std::vector<ActionRecord>> {
    SQLite::Statement q(impl_->db,
                        "SELECT id, created_at, actor, action, target, detail_json, outcome FROM "
                        "actions WHERE (?1 = '' OR target = ?1) ORDER BY id DESC LIMIT ?2");
    q.bind(1, target);
    q.bind(2, limit);
    std::vector<ActionRecord> out;
    while (q.executeStep())
      out.push_back({q.getColumn(0).getInt64(), detail::col_time(q.getColumn(1)),
                     detail::col_text(q.getColumn(2)), detail::col_text(q.getColumn(3)),
                     detail::col_text(q.getColumn(4)), detail::col_text(q.getColumn(5)),
                     detail::col_text(q.getColumn(6))});
    return out;
  });
}

}  // namespace llmops::store
