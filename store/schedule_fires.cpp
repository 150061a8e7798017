// Store: the `schedule_fires` table, the processes the scheduler started and the runs they
// recorded (see ScheduleFire in store.hpp).
#include <random>
#include <set>

#include "base/time.hpp"
#include "store/store_impl.hpp"

namespace llmops::store {

namespace {

constexpr const char* kFireColumns =
    "id, schedule, kind, token, nominal, digest, pid, run_id, runs_before, state, note, "
    "created_at, ended_at";

// A value of a run's trigger info, NULL when the text is not JSON (json_extract would fail the
// whole query on one malformed row; CASE evaluates in order).
#define LLMOPS_TRIGGER_INFO(field)                                                          \
  "(CASE WHEN json_valid(trigger_info_json) THEN json_extract(trigger_info_json, '$." field \
  "') END)"

ScheduleFire read_fire(SQLite::Statement& q) {
  ScheduleFire f;
  f.id = q.getColumn(0).getInt64();
  f.schedule = detail::col_text(q.getColumn(1));
  f.kind = detail::col_text(q.getColumn(2));
  f.token = detail::col_text(q.getColumn(3));
  if (!q.getColumn(4).isNull()) f.nominal = q.getColumn(4).getDouble();
  f.digest = detail::col_text(q.getColumn(5));
  if (!q.getColumn(6).isNull()) f.pid = q.getColumn(6).getInt64();
  if (!q.getColumn(7).isNull()) f.run_id = q.getColumn(7).getInt64();
  f.runs_before = q.getColumn(8).getInt64();
  f.state = detail::col_text(q.getColumn(9));
  f.note = detail::col_text(q.getColumn(10));
  f.created_at = detail::col_time(q.getColumn(11));
  f.ended_at = detail::col_time(q.getColumn(12));
  return f;
}

std::string fresh_token() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 2; ++i) {
    uint64_t v = rng();
    for (int k = 0; k < 16; ++k, v >>= 4) out += kHex[v & 15];
  }
  return out;
}

const std::set<std::string>& fire_states() {
  static const std::set<std::string> k = {"starting", "running", "cancelling", "ended"};
  return k;
}

}  // namespace

Result<ScheduleFire> Store::add_schedule_fire(const ScheduleFire& fire) {
  if (fire.schedule.empty()) return Status::invalid("add_schedule_fire: empty schedule");
  std::lock_guard lock(impl_->mu);
  return detail::guarded("add_schedule_fire", [&]() -> Result<ScheduleFire> {
    SQLite::Database& db = impl_->db;
    detail::WriteTx tx(db, impl_->batch);
    ScheduleFire f = fire;
    f.token = fresh_token();
    f.state = "starting";
    f.created_at = base::unix_now();
    {
      detail::Cached q(db, "SELECT COALESCE(MAX(id), 0) FROM runs");
      q.executeStep();
      f.runs_before = q.getColumn(0).getInt64();
    }
    detail::Cached ins(db,
                       "INSERT INTO schedule_fires (schedule, kind, token, nominal, digest, "
                       "runs_before, state, created_at) VALUES (?, ?, ?, ?, ?, ?, 'starting', ?)");
    ins.bind(1, f.schedule);
    ins.bind(2, f.kind);
    ins.bind(3, f.token);
    if (f.nominal) {
      ins.bind(4, *f.nominal);
    } else {
      ins.bind(4);
    }
    ins.bind(5, f.digest);
    ins.bind(6, f.runs_before);
    ins.bind(7, f.created_at);
    ins.exec();
    f.id = db.getLastInsertRowid();
    tx.commit();
    return f;
  });
}

Status Store::set_schedule_fire_state(int64_t fire, const std::string& state,
                                      std::optional<int64_t> pid, const std::string& note) {
  if (!fire_states().count(state)) return Status::invalid("unknown fire state '" + state + "'");
  std::lock_guard lock(impl_->mu);
  return detail::guarded("set_schedule_fire_state", [&]() -> Status {
    detail::WriteTx tx(impl_->db, impl_->batch);
    detail::Cached q(impl_->db,
                     "UPDATE schedule_fires SET state = ?1, pid = COALESCE(?2, pid), "
                     "note = CASE WHEN ?3 = '' THEN note ELSE ?3 END, "
                     "ended_at = CASE WHEN ?1 = 'ended' THEN ?4 ELSE ended_at END WHERE id = ?5");
    q.bind(1, state);
    if (pid) {
      q.bind(2, *pid);
    } else {
      q.bind(2);
    }
    q.bind(3, note);
    q.bind(4, base::unix_now());
    q.bind(5, fire);
    if (q.exec() == 0) return Status::not_found("no schedule fire " + std::to_string(fire));
    tx.commit();
    return Status::ok();
  });
}

Result<std::vector<ScheduleFire>> Store::open_schedule_fires(const std::string& schedule) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("open_schedule_fires", [&]() -> Result<std::vector<ScheduleFire>> {
    detail::Cached q(impl_->db, std::string("SELECT ") + kFireColumns +
                                    " FROM schedule_fires WHERE state != 'ended' AND "
                                    "(?1 = '' OR schedule = ?1) ORDER BY id");
    q.bind(1, schedule);
    std::vector<ScheduleFire> out;
    while (q.executeStep()) out.push_back(read_fire(q));
    return out;
  });
}

Result<std::optional<int64_t>> Store::link_schedule_fire(int64_t fire) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("link_schedule_fire", [&]() -> Result<std::optional<int64_t>> {
    SQLite::Database& db = impl_->db;
    ScheduleFire f;
    {
      detail::Cached q(db,
                       std::string("SELECT ") + kFireColumns + " FROM schedule_fires WHERE id = ?");
      q.bind(1, fire);
      if (!q.executeStep()) return Status::not_found("no schedule fire " + std::to_string(fire));
      f = read_fire(q);
    }
    if (f.run_id) return f.run_id;
    std::optional<int64_t> run;
    {
      detail::Cached q(db,
                       "SELECT id FROM runs WHERE id > ? AND trigger_kind IN ('cron', 'watch') "
                       "AND " LLMOPS_TRIGGER_INFO("fire") " = ? ORDER BY id LIMIT 1");
      q.bind(1, f.runs_before);
      q.bind(2, f.token);
      if (q.executeStep()) run = q.getColumn(0).getInt64();
    }
    if (!run) return run;
    detail::WriteTx tx(db, impl_->batch);
    detail::Cached set(db, "UPDATE schedule_fires SET run_id = ? WHERE id = ?");
    set.bind(1, *run);
    set.bind(2, fire);
    set.exec();
    // The schedule's last run is the run of its newest fire that has one.
    detail::Cached last(db,
                        "UPDATE schedules SET last_run_id = ?1, updated_at = ?2 WHERE name = ?3 "
                        "AND NOT EXISTS (SELECT 1 FROM schedule_fires WHERE schedule = ?3 "
                        "AND id > ?4 AND run_id IS NOT NULL)");
    last.bind(1, *run);
    last.bind(2, base::unix_now());
    last.bind(3, f.schedule);
    last.bind(4, fire);
    last.exec();
    tx.commit();
    return run;
  });
}

Result<std::vector<int64_t>> Store::schedule_runs_untracked(const std::string& name) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("schedule_runs_untracked", [&]() -> Result<std::vector<int64_t>> {
    detail::Cached q(impl_->db,
                     "SELECT id FROM runs WHERE trigger_kind IN ('cron', 'watch') AND state IN "
                     "('pending', 'running') AND " LLMOPS_TRIGGER_INFO("schedule") " = ?1 "
                     "AND NOT EXISTS (SELECT 1 FROM schedule_fires f WHERE f.run_id = runs.id "
                     "OR f.token = " LLMOPS_TRIGGER_INFO("fire") ") ORDER BY id");
    q.bind(1, name);
    std::vector<int64_t> out;
    while (q.executeStep()) out.push_back(q.getColumn(0).getInt64());
    return out;
  });
}

#undef LLMOPS_TRIGGER_INFO

}  // namespace llmops::store
