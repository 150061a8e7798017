// Store: the `schedules` table (state of the scheduler) and the runs it has in flight. The
// processes it started (`schedule_fires`) are in schedule_fires.cpp.
#include "base/time.hpp"
#include "store/store_impl.hpp"

namespace llmops::store {

namespace {

constexpr const char* kScheduleColumns =
    "name, pipeline_file, cron, timezone, last_nominal_fire, last_run_id, updated_at, kind, "
    "watch_json, last_digest, last_started_at";

ScheduleState read_schedule(SQLite::Statement& q) {
  ScheduleState s;
  s.name = detail::col_text(q.getColumn(0));
  s.pipeline_file = detail::col_text(q.getColumn(1));
  s.cron = detail::col_text(q.getColumn(2));
  s.timezone = detail::col_text(q.getColumn(3));
  if (!q.getColumn(4).isNull()) s.last_nominal_fire = q.getColumn(4).getDouble();
  if (!q.getColumn(5).isNull()) s.last_run_id = q.getColumn(5).getInt64();
  s.updated_at = detail::col_time(q.getColumn(6));
  s.kind = detail::col_text(q.getColumn(7));
  s.watch_json = detail::col_text(q.getColumn(8));
  if (!q.getColumn(9).isNull()) s.last_digest = q.getColumn(9).getString();
  if (!q.getColumn(10).isNull()) s.last_started_at = q.getColumn(10).getDouble();
  return s;
}

template <typename T>
void bind_optional(detail::Cached& q, int index, const std::optional<T>& v) {
  if (v) {
    q.bind(index, *v);
  } else {
    q.bind(index);
  }
}

}  // namespace

Result<std::vector<ScheduleState>> Store::list_schedules() {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("list_schedules", [&]() -> Result<std::vector<ScheduleState>> {
    detail::Cached q(impl_->db,
                     std::string("SELECT ") + kScheduleColumns + " FROM schedules ORDER BY name");
    std::vector<ScheduleState> out;
    while (q.executeStep()) out.push_back(read_schedule(q));
    return out;
  });
}

Result<std::optional<ScheduleState>> Store::get_schedule(const std::string& name) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("get_schedule", [&]() -> Result<std::optional<ScheduleState>> {
    detail::Cached q(impl_->db,
                     std::string("SELECT ") + kScheduleColumns + " FROM schedules WHERE name = ?");
    q.bind(1, name);
    std::optional<ScheduleState> out;
    if (q.executeStep()) out = read_schedule(q);
    return out;
  });
}

Status Store::put_schedule(const ScheduleState& s) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("put_schedule", [&]() -> Status {
    detail::WriteTx tx(impl_->db, impl_->batch);
    detail::Cached q(impl_->db,
                     "INSERT INTO schedules (name, pipeline_file, cron, timezone, "
                     "last_nominal_fire, last_run_id, updated_at, kind, watch_json, last_digest, "
                     "last_started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                     "ON CONFLICT(name) DO UPDATE SET pipeline_file = excluded.pipeline_file, "
                     "cron = excluded.cron, timezone = excluded.timezone, "
                     "last_nominal_fire = excluded.last_nominal_fire, "
                     "last_run_id = excluded.last_run_id, updated_at = excluded.updated_at, "
                     "kind = excluded.kind, watch_json = excluded.watch_json, "
                     "last_digest = excluded.last_digest, "
                     "last_started_at = excluded.last_started_at");
    q.bind(1, s.name);
    q.bind(2, s.pipeline_file);
    q.bind(3, s.cron);
    q.bind(4, s.timezone);
    bind_optional(q, 5, s.last_nominal_fire);
    bind_optional(q, 6, s.last_run_id);
    q.bind(7, base::unix_now());
    q.bind(8, s.kind.empty() ? std::string("cron") : s.kind);
    q.bind(9, s.watch_json);
    bind_optional(q, 10, s.last_digest);
    bind_optional(q, 11, s.last_started_at);
    q.exec();
    tx.commit();
    return Status::ok();
  });
}

Result<std::vector<int64_t>> Store::schedule_runs_in_flight(const std::string& name) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("schedule_runs_in_flight", [&]() -> Result<std::vector<int64_t>> {
    detail::Cached q(impl_->db,
                     "SELECT id FROM runs WHERE trigger_kind IN ('cron', 'watch') AND state IN "
                     "('pending', 'running') AND json_extract(trigger_info_json, '$.schedule') = ? "
                     "ORDER BY id");
    q.bind(1, name);
    std::vector<int64_t> out;
    while (q.executeStep()) out.push_back(q.getColumn(0).getInt64());
    return out;
  });
}

}  // namespace llmops::store
