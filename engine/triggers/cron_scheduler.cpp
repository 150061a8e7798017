#include "engine/triggers/cron_scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <deque>

namespace llmops::engine {

namespace {

using std::chrono::seconds;

// splitmix64: a well-mixed 64-bit hash, enough for spreading start times (not cryptographic).
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t hash_string(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

struct Fire {
  SysSeconds nominal;
  SysSeconds due;
};

}  // namespace

SysSeconds SystemClock::now() const {
  return std::chrono::time_point_cast<seconds>(std::chrono::system_clock::now());
}

const char* to_string(ScheduleDecision::Kind k) {
  switch (k) {
    case ScheduleDecision::Kind::kStart:
      return "start";
    case ScheduleDecision::Kind::kCancel:
      return "cancel";
    case ScheduleDecision::Kind::kSkipped:
      return "skipped";
    case ScheduleDecision::Kind::kMissed:
      return "missed";
  }
  return "?";
}

SysSeconds CronScheduler::due_time(const ScheduleSpec& spec, SysSeconds nominal) const {
  if (spec.jitter_s <= 0) return nominal;
  uint64_t h = mix(options_.jitter_seed ^ mix(hash_string(spec.id)) ^
                   mix(static_cast<uint64_t>(nominal.time_since_epoch().count())));
  double u = static_cast<double>(h >> 11) / static_cast<double>(1ULL << 53);  // [0, 1)
  return nominal + seconds(static_cast<long long>(std::floor(u * spec.jitter_s)));
}

SchedulePlan CronScheduler::decide(const std::vector<ScheduleInput>& schedules) const {
  SchedulePlan plan;
  const SysSeconds now = clock_.now();
  for (const auto& in : schedules) {
    if (in.spec != nullptr && in.spec->cron) decide_one(in, now, plan);
  }
  return plan;
}

void CronScheduler::decide_one(const ScheduleInput& in, SysSeconds now, SchedulePlan& plan) const {
  const ScheduleSpec& spec = *in.spec;
  const CronSpec& cron = *spec.cron;
  using Kind = ScheduleDecision::Kind;
  auto note = [&](Kind kind, SysSeconds nominal, int count, std::string reason) {
    ScheduleDecision d;
    d.kind = kind;
    d.schedule_id = spec.id;
    d.nominal = nominal;
    d.due = nominal;
    d.count = count;
    d.reason = std::move(reason);
    plan.decisions.push_back(std::move(d));
  };
  auto wake = [&](SysSeconds t) {
    if (!plan.wake_at || t < *plan.wake_at) plan.wake_at = t;
  };

  if (!in.last_nominal) {
    // First sight: start counting from now (no back-fill), and remember that we did.
    plan.last_nominal.emplace_back(spec.id, now);
    if (auto next = cron.next_after(now); next && !spec.suspend) wake(due_time(spec, *next));
    return;
  }

  // The due fires after `last`, in order. Only the most recent `keep` are kept; older ones are
  // counted (a long downtime on a every-minute schedule must not allocate a fire per minute).
  const size_t keep = static_cast<size_t>(std::max(spec.max_catchup, 1));
  std::deque<Fire> fires;
  int dropped = 0;
  std::optional<Fire> last_dropped;
  std::optional<SysSeconds> next_pending;
  SysSeconds cursor = *in.last_nominal;
  int iterations = 0;
  while (true) {
    auto n = cron.next_after(cursor);
    if (!n || *n > now) {
      if (n) next_pending = *n;
      break;
    }
    SysSeconds due = due_time(spec, *n);
    if (due > now) {  // jitter holds it back: later fires wait behind it, to keep order
      next_pending = *n;
      break;
    }
    fires.push_back({*n, due});
    if (fires.size() > keep) {
      last_dropped = fires.front();
      fires.pop_front();
      ++dropped;
    }
    cursor = *n;
    if (++iterations == options_.max_enumerate) {
      // Jump ahead: the count of skipped fires becomes a lower bound.
      SysSeconds jump = now - seconds(static_cast<long long>(std::ceil(spec.jitter_s)) + 7 * 86400);
      if (jump > cursor) cursor = jump;
    }
  }
  if (next_pending && !spec.suspend) wake(due_time(spec, *next_pending));
  if (fires.empty() && dropped == 0) return;

  const SysSeconds newest = fires.empty() ? last_dropped->nominal : fires.back().nominal;
  plan.last_nominal.emplace_back(spec.id, newest);
  const int total = dropped + static_cast<int>(fires.size());

  if (spec.suspend) {
    note(Kind::kSkipped, newest, total, "suspended");
    return;
  }

  // Starting deadline: fires due too long ago are missed. Fires are (nearly) in due order, so
  // the dropped ones are missed when the oldest kept one is.
  int missed = 0;
  std::optional<SysSeconds> missed_newest;
  if (spec.starting_deadline_s) {
    const SysSeconds limit = now - seconds(static_cast<long long>(*spec.starting_deadline_s));
    while (!fires.empty() && fires.front().due < limit) {
      missed_newest = fires.front().nominal;
      fires.pop_front();
      ++missed;
    }
    if (dropped > 0 && last_dropped->due < limit) {
      missed += dropped;
      if (!missed_newest) missed_newest = last_dropped->nominal;
      dropped = 0;
    }
  }
  if (missed > 0) {
    note(Kind::kMissed, *missed_newest, missed,
         "not started within starting_deadline " +
             std::to_string(static_cast<long long>(*spec.starting_deadline_s)) + "s");
  }

  // Catch-up: which of the remaining fires start.
  int skipped = dropped;
  std::optional<SysSeconds> skipped_newest;
  if (dropped > 0) skipped_newest = last_dropped->nominal;
  auto skip_oldest = [&] {
    skipped_newest = fires.front().nominal;
    fires.pop_front();
    ++skipped;
  };
  std::string skip_reason = "catchup " + std::string(to_string(spec.catchup));
  if (spec.catchup == CatchupPolicy::kNone) {
    const SysSeconds limit = now - options_.grace;
    while (!fires.empty() && (fires.size() > 1 || fires.front().due < limit)) skip_oldest();
  } else if (spec.catchup == CatchupPolicy::kLatest) {
    while (fires.size() > 1) skip_oldest();
  } else if (dropped > 0) {
    skip_reason = "beyond max_catchup " + std::to_string(spec.max_catchup);
  }
  // Concurrency.
  const bool busy = !in.running.empty();
  if (!fires.empty() && spec.concurrency == ConcurrencyPolicy::kForbid) {
    const size_t allowed = busy ? 0 : 1;
    int forbidden = 0;
    while (fires.size() > allowed) {
      fires.pop_back();
      ++forbidden;
    }
    if (forbidden > 0) {
      std::string why = busy ? "concurrency forbid: a run is still in flight"
                             : "concurrency forbid: one catch-up run at a time";
      note(Kind::kSkipped, newest, forbidden, why);
    }
  } else if (!fires.empty() && spec.concurrency == ConcurrencyPolicy::kReplace) {
    while (fires.size() > 1) skip_oldest();
    for (int64_t run : in.running) {
      ScheduleDecision d;
      d.kind = Kind::kCancel;
      d.schedule_id = spec.id;
      d.nominal = fires.back().nominal;
      d.due = fires.back().due;
      d.run_id = run;
      d.reason = "concurrency replace";
      plan.decisions.push_back(std::move(d));
    }
  }
  if (skipped > 0) {
    note(Kind::kSkipped, *skipped_newest, skipped, skip_reason);
  }
  for (const Fire& f : fires) {
    ScheduleDecision d;
    d.kind = Kind::kStart;
    d.schedule_id = spec.id;
    d.nominal = f.nominal;
    d.due = f.due;
    d.params = spec.params;
    d.reason = "cron";
    plan.decisions.push_back(std::move(d));
  }
}

}  // namespace llmops::engine
