// Store: the `schedules` table (state of the cron scheduler) and the runs it has in flight.
#include "store/store_impl.hpp"

namespace llmops::store {

namespace {

constexpr const char* kScheduleColumns =
    "name, pipeline_file, cron, timezone, last_nominal_fire, last_run_id, updated_at";

ScheduleState read_schedule(SQLite::Statement& q) {
  ScheduleState s;
  s.name = detail::col_text(q.getColumn(0));
  s.pipeline_file = detail::col_text(q.getColumn(1));
  s.cron = detail::col_text(q.getColumn(2));
  s.timezone = detail::col_text(q.getColumn(3));
  if (!q.getColumn(4).isNull()) s.last_nominal_fire = q.getColumn(4).getDouble();
  if (!q.getColumn(5).isNull()) s.last_run_id = q.getColumn(5).getInt64();
  s.updated_at = detail::col_time(q.getColumn(6));
  return s;
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
    detail::Cached q(impl_->db,
                     "INSERT INTO schedules (name, pipeline_file, cron, timezone, "
                     "last_nominal_fire, last_run_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                     "ON CONFLICT(name) DO UPDATE SET pipeline_file = excluded.pipeline_file, "
                     "cron = excluded.cron, timezone = excluded.timezone, "
                     "last_nominal_fire = excluded.last_nominal_fire, "
                     "last_run_id = excluded.last_run_id, updated_at = excluded.updated_at");
    q.bind(1, s.name);
    q.bind(2, s.pipeline_file);
    q.bind(3, s.cron);
    q.bind(4, s.timezone);
    if (s.last_nominal_fire) {
      q.bind(5, *s.last_nominal_fire);
    } else {
      q.bind(5);
    }
    if (s.last_run_id) {
      q.bind(6, static_cast<int64_t>(*s.last_run_id));
    } else {
      q.bind(6);
    }
    q.bind(7, detail::unix_now());
    q.exec();
    return Status::ok();
  });
}

Result<std::vector<int64_t>> Store::schedule_runs_in_flight(const std::string& name) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("schedule_runs_in_flight", [&]() -> Result<std::vector<int64_t>> {
    detail::Cached q(impl_->db,
                     "SELECT id FROM runs WHERE trigger_kind = 'cron' AND state IN ('pending', "
                     "'running') AND json_extract(trigger_info_json, '$.schedule') = ? "
                     "ORDER BY id");
    q.bind(1, name);
    std::vector<int64_t> out;
    while (q.executeStep()) out.push_back(q.getColumn(0).getInt64());
    return out;
  });
}

}  // namespace llmops::store
