// CronScheduler: what the `llmops scheduler` daemon should do now, decided without side effects.
//
// Given each schedule (engine/spec/schedule.hpp) with its last handled nominal fire time and its
// runs in flight, and the time from an injected Clock, decide() says which runs to start (nominal
// fire time, params, when), which running ones to cancel (concurrency: replace), which fires were
// skipped (catch-up, concurrency: forbid, suspend) or missed (starting_deadline), the new last
// nominal fire time per schedule, and when to ask again. The daemon (cli/cmd_scheduler.cpp)
// applies the plan and keeps the state in the store; tests drive it with a FakeClock, no sleeps.
//
// Semantics, per schedule, for the fires N (nominal times after `last`) whose due time
// (N + jitter(N)) has come:
// - suspend: every such fire is skipped; `last` still advances, so resuming does not catch up.
// - starting_deadline: a fire due more than the deadline ago is missed (never started).
// - catchup none: only a fire due within `grace` of now starts; older ones are skipped.
//   latest: the most recent one starts, older ones are skipped.
//   all: all start, oldest first; beyond max_catchup only the most recent max_catchup start
//   and the older ones are skipped (counted).
// - concurrency allow: start beside runs in flight; forbid: with a run in flight the fire is
//   skipped (and within one decision only the first fire starts); replace: cancel the runs in
//   flight and start only the most recent fire.
// - jitter: a delay in [0, jitter) that is a hash of (seed, schedule id, nominal time), so it is
//   the same across restarts and deterministic in tests.
// A schedule seen for the first time (no `last`) starts from now: it never back-fills.
// Thread safety: decide() is const and touches only its arguments and the clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/spec/schedule.hpp"

namespace llmops::engine {

using SysSeconds = std::chrono::sys_seconds;

// The one source of "now" for scheduling decisions.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual SysSeconds now() const = 0;
};

class SystemClock : public Clock {
 public:
  SysSeconds now() const override;
};

// A clock that moves only when told to (tests).
class FakeClock : public Clock {
 public:
  explicit FakeClock(SysSeconds t) : t_(t) {}
  SysSeconds now() const override { return t_; }
  void set(SysSeconds t) { t_ = t; }
  void advance(std::chrono::seconds d) { t_ += d; }

 private:
  SysSeconds t_;
};

struct ScheduleInput {
  const ScheduleSpec* spec = nullptr;      // not owned; must outlive decide()
  std::optional<SysSeconds> last_nominal;  // the last fire handled (started, skipped or missed)
  // Handles of the runs in flight started by this schedule (the daemon passes its own handles;
  // a kCancel decision names one of them in run_id).
  std::vector<int64_t> running;
};

struct ScheduleDecision {
  enum class Kind { kStart, kCancel, kSkipped, kMissed };
  Kind kind = Kind::kStart;
  std::string schedule_id;
  SysSeconds nominal{};  // kStart: the fire; kSkipped/kMissed: the most recent one counted
  SysSeconds due{};      // kStart: nominal + jitter
  nlohmann::json params = nlohmann::json::object();  // kStart
  int64_t run_id = 0;                                // kCancel: a handle from `running`
  int count = 1;                                     // kSkipped/kMissed: how many fires
  std::string reason;                                // for the log
};

struct SchedulePlan {
  std::vector<ScheduleDecision> decisions;  // per schedule: cancels, then starts, in time order
  // The new last handled nominal time of each schedule whose state changed.
  std::vector<std::pair<std::string, SysSeconds>> last_nominal;
  std::optional<SysSeconds> wake_at;  // the earliest due time still ahead (none: nothing to wait)
};

const char* to_string(ScheduleDecision::Kind k);

class CronScheduler {
 public:
  struct Options {
    uint64_t jitter_seed = 0;
    std::chrono::seconds grace{60};  // catchup none: how late a fire may still start
    int max_enumerate = 100000;      // bound on fires counted after a long downtime
  };

  explicit CronScheduler(const Clock& clock) : CronScheduler(clock, Options{}) {}
  CronScheduler(const Clock& clock, Options options) : clock_(clock), options_(options) {}

  SchedulePlan decide(const std::vector<ScheduleInput>& schedules) const;

  // The jittered time at which the fire `nominal` of `spec` becomes due.
  SysSeconds due_time(const ScheduleSpec& spec, SysSeconds nominal) const;

 private:
  void decide_one(const ScheduleInput& in, SysSeconds now, SchedulePlan& plan) const;

  const Clock& clock_;
  Options options_;
};

}  // namespace llmops::engine
