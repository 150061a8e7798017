// Run ownership (run_leases, schema version 6): claims, heartbeats, cancel requests.
#include "base/time.hpp"
#include "store/store_impl.hpp"

namespace llmops::store {
namespace {

constexpr const char* kOwnerColumns =
    "token, pid, pid_start, host, acquired_at, heartbeat_at, cancel_requested";

RunOwner read_owner(SQLite::Statement& q) {
  RunOwner o;
  o.token = q.getColumn(0).getString();
  o.pid = q.getColumn(1).getInt64();
  o.pid_start = q.getColumn(2).getInt64();
  o.host = q.getColumn(3).getString();
  o.acquired_at = q.getColumn(4).getDouble();
  o.heartbeat_at = q.getColumn(5).getDouble();
  o.cancel_requested = q.getColumn(6).getInt() != 0;
  return o;
}

std::optional<RunOwner> find_owner(SQLite::Database& db, int64_t run_id) {
  detail::Cached q(db,
                   std::string("SELECT ") + kOwnerColumns + " FROM run_leases WHERE run_id = ?");
  q.bind(1, run_id);
  if (!q.executeStep()) return std::nullopt;
  return read_owner(q);
}

}  // namespace

Result<std::optional<RunOwner>> Store::claim_run(
    int64_t run_id, const RunOwner& me, const std::function<bool(const RunOwner&)>& alive) {
  if (me.token.empty()) return Status::invalid("claim_run: empty token");
  std::lock_guard lock(impl_->mu);
  return detail::guarded("claim_run", [&]() -> Result<std::optional<RunOwner>> {
    SQLite::Database& db = impl_->db;
    detail::WriteTx tx(db, impl_->batch);
    {
      detail::Cached run(db, "SELECT 1 FROM runs WHERE id = ?");
      run.bind(1, run_id);
      if (!run.executeStep()) return Status::not_found("no run " + std::to_string(run_id));
    }
    if (auto owner = find_owner(db, run_id); owner && owner->token != me.token && alive(*owner))
      return owner;
    const double now = base::unix_now();
    detail::Cached q(
        db,
        "INSERT OR REPLACE INTO run_leases(run_id, token, pid, pid_start, host, "
        "acquired_at, heartbeat_at, cancel_requested) VALUES (?, ?, ?, ?, ?, ?, ?, 0)");
    q.bind(1, run_id);
    q.bind(2, me.token);
    q.bind(3, me.pid);
    q.bind(4, me.pid_start);
    q.bind(5, me.host);
    q.bind(6, now);
    q.bind(7, now);
    q.exec();
    tx.commit();
    return std::optional<RunOwner>{};
  });
}

Result<bool> Store::heartbeat_run(int64_t run_id, const std::string& token) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("heartbeat_run", [&]() -> Result<bool> {
    SQLite::Database& db = impl_->db;
    detail::WriteTx tx(db, impl_->batch);
    detail::Cached q(db, "UPDATE run_leases SET heartbeat_at = ? WHERE run_id = ? AND token = ?");
    q.bind(1, base::unix_now());
    q.bind(2, run_id);
    q.bind(3, token);
    if (q.exec() == 0)
      return Status::not_found("run " + std::to_string(run_id) + " is no longer ours");
    auto owner = find_owner(db, run_id);
    tx.commit();
    return owner && owner->cancel_requested;
  });
}

Status Store::release_run(int64_t run_id, const std::string& token) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("release_run", [&]() -> Status {
    SQLite::Database& db = impl_->db;
    detail::WriteTx tx(db, impl_->batch);
    detail::Cached q(db, "DELETE FROM run_leases WHERE run_id = ? AND token = ?");
    q.bind(1, run_id);
    q.bind(2, token);
    q.exec();
    tx.commit();
    return Status::ok();
  });
}

Result<std::optional<RunOwner>> Store::run_owner(int64_t run_id) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("run_owner", [&]() -> Result<std::optional<RunOwner>> {
    return find_owner(impl_->db, run_id);
  });
}

Status Store::request_cancel(int64_t run_id) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("request_cancel", [&]() -> Status {
    SQLite::Database& db = impl_->db;
    detail::WriteTx tx(db, impl_->batch);
    detail::Cached q(db, "UPDATE run_leases SET cancel_requested = 1 WHERE run_id = ?");
    q.bind(1, run_id);
    if (q.exec() == 0) return Status::not_found("run " + std::to_string(run_id) + " has no owner");
    tx.commit();
    return Status::ok();
  });
}

Result<int> Store::end_run(int64_t run_id, State state, const std::string& why) {
  if (state != State::kCancelled && state != State::kFailed)
    return Status::invalid(std::string("end_run: a run cannot end ") + to_string(state));
  std::lock_guard lock(impl_->mu);
  return detail::guarded("end_run", [&]() -> Result<int> {
    SQLite::Database& db = impl_->db;
    detail::WriteTx tx(db, impl_->batch);
    const double now = base::unix_now();
    const std::string word = to_string(state);
    detail::Cached ex(db,
                      "UPDATE executions SET state = 'failed', error = ?1, ended_at = ?2 "
                      "WHERE run_id = ?3 AND state = 'running'");
    ex.bind(1, why);
    ex.bind(2, now);
    ex.bind(3, run_id);
    ex.exec();
    detail::Cached steps(db,
                         "UPDATE run_steps SET state = ?1, reason = ?2, ended_at = ?3 "
                         "WHERE run_id = ?4 AND (state = 'running' OR "
                         "(state = 'pending' AND ?1 = 'cancelled'))");
    steps.bind(1, word);
    steps.bind(2, why);
    steps.bind(3, now);
    steps.bind(4, run_id);
    const int count = steps.exec();
    detail::Cached run(db, "UPDATE runs SET state = ?1, error = ?2, ended_at = ?3 WHERE id = ?4");
    run.bind(1, word);
    run.bind(2, why);
    run.bind(3, now);
    run.bind(4, run_id);
    if (run.exec() == 0) return Status::not_found("no run " + std::to_string(run_id));
    tx.commit();
    return count;
  });
}

}  // namespace llmops::store
