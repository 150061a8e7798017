// Deployments: which model serves under which name, and every change to it (append-only).
#include "base/time.hpp"
#include "store/store_impl.hpp"

namespace llmops::store {

namespace {

void bind_opt(detail::Cached& q, int i, const std::optional<int64_t>& v) {
  if (v)
    q.bind(i, *v);
  else
    q.bind(i);
}

void bind_digest(detail::Cached& q, int i, const std::string& d) {
  if (d.empty())
    q.bind(i);
  else
    q.bind(i, d);
}

}  // namespace

Status Store::record_deployment(const DeploymentRecord& d) {
  if (d.name.empty()) return Status::invalid("record_deployment: a deployment needs a name");
  std::lock_guard lock(impl_->mu);
  return detail::guarded("record_deployment", [&]() -> Status {
    SQLite::Database& db = impl_->db;
    const double now = base::unix_now();
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    detail::Cached up(db,
                      "INSERT INTO deployments(name, artifact_digest, state, endpoint, info_json, "
                      "run_id, execution_id, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                      "ON CONFLICT(name) DO UPDATE SET artifact_digest = ?2, state = ?3, "
                      "endpoint = ?4, info_json = ?5, run_id = ?6, execution_id = ?7, "
                      "updated_at = ?8");
    up.bind(1, d.name);
    bind_digest(up, 2, d.artifact_digest);
    up.bind(3, d.state);
    up.bind(4, d.endpoint);
    up.bind(5, d.info_json.empty() ? "{}" : d.info_json);
    bind_opt(up, 6, d.run_id);
    bind_opt(up, 7, d.execution_id);
    up.bind(8, now);
    up.exec();
    detail::Cached hist(
        db,
        "INSERT INTO deployment_history(deployment, action, artifact_digest, state, "
        "info_json, run_id, execution_id, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    hist.bind(1, d.name);
    hist.bind(2, d.action);
    bind_digest(hist, 3, d.artifact_digest);
    hist.bind(4, d.state);
    hist.bind(5, d.info_json.empty() ? "{}" : d.info_json);
    bind_opt(hist, 6, d.run_id);
    bind_opt(hist, 7, d.execution_id);
    hist.bind(8, now);
    hist.exec();
    tx.commit();
    return Status::ok();
  });
}

Result<std::vector<DeploymentInfo>> Store::list_deployments() {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("list_deployments", [&]() -> Result<std::vector<DeploymentInfo>> {
    detail::Cached q(impl_->db,
                     "SELECT name, artifact_digest, state, endpoint, info_json, run_id, "
                     "execution_id, updated_at FROM deployments ORDER BY name");
    std::vector<DeploymentInfo> out;
    while (q.executeStep()) {
      DeploymentInfo d;
      d.name = q.getColumn(0).getString();
      d.artifact_digest = detail::col_text(q.getColumn(1));
      d.state = q.getColumn(2).getString();
      d.endpoint = q.getColumn(3).getString();
      d.info_json = q.getColumn(4).getString();
      if (!q.getColumn(5).isNull()) d.run_id = q.getColumn(5).getInt64();
      if (!q.getColumn(6).isNull()) d.execution_id = q.getColumn(6).getInt64();
      d.updated_at = detail::col_time(q.getColumn(7));
      out.push_back(std::move(d));
    }
    return out;
  });
}

Result<std::vector<DeploymentRecord>> Store::deployment_history(const std::string& name) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("deployment_history", [&]() -> Result<std::vector<DeploymentRecord>> {
    detail::Cached q(impl_->db,
                     "SELECT action, artifact_digest, state, info_json, run_id, execution_id, "
                     "created_at FROM deployment_history WHERE deployment = ? ORDER BY id");
    q.bind(1, name);
    std::vector<DeploymentRecord> out;
    while (q.executeStep()) {
      DeploymentRecord d;
      d.name = name;
      d.action = q.getColumn(0).getString();
      d.artifact_digest = detail::col_text(q.getColumn(1));
      d.state = q.getColumn(2).getString();
      d.info_json = q.getColumn(3).getString();
      if (!q.getColumn(4).isNull()) d.run_id = q.getColumn(4).getInt64();
      if (!q.getColumn(5).isNull()) d.execution_id = q.getColumn(5).getInt64();
      d.created_at = detail::col_time(q.getColumn(6));
      out.push_back(std::move(d));
    }
    return out;
  });
}

}  // namespace llmops::store
