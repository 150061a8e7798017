#include "engine/scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace llmops::engine {

const char* to_string(StepState s) {
  switch (s) {
    case StepState::kPending: return "pending";
    case StepState::kRunning: return "running";
    case StepState::kSucceeded: return "succeeded";
    case StepState::kFailed: return "failed";
    case StepState::kSkipped: return "skipped";
    case StepState::kCached: return "cached";
    case StepState::kCancelled: return "cancelled";
  }
  return "?";
}

std::optional<StepState> step_state_from_string(const std::string& s) {
  for (auto st : {StepState::kPending, StepState::kRunning, StepState::kSucceeded,
                  StepState::kFailed, StepState::kSkipped, StepState::kCached,
                  StepState::kCancelled})
    if (s == to_string(st)) return st;
  return std::nullopt;
}

SchedulerCore::SchedulerCore(std::vector<SchedStep> steps, SchedOptions options)
    : steps_(std::move(steps)), info_(steps_.size()), opt_(options), rng_(options.seed) {
  if (opt_.max_parallel < 1) opt_.max_parallel = 1;
}

void SchedulerCore::preset(int step, StepState state) { info_[step].state = state; }

double SchedulerCore::backoff(const RetryPolicy& p, int attempt) {
  double d = p.initial_s * std::pow(p.factor, std::max(0, attempt - 1));
  d = std::min(d, p.max_s);
  if (p.jitter) {
    // "Equal jitter": half fixed, half random, so retries of many steps spread out but never
    // collapse to zero delay.
    std::uniform_real_distribution<double> u(0.0, d / 2);
    d = d / 2 + u(rng_);
  }
  return std::max(0.0, d);
}

bool SchedulerCore::oversized(int step) const {
  const auto& r = steps_[step].resources;
  return (opt_.cpu_capacity > 0 && r.cpus > opt_.cpu_capacity) || r.gpus > opt_.gpu_capacity ||
         (opt_.memory_capacity > 0 && r.memory > opt_.memory_capacity);
}

bool SchedulerCore::fits(int step) const {
  if (running_ >= opt_.max_parallel) return false;
  const auto& r = steps_[step].resources;
  // A step that asks for more than the whole machine still runs, alone.
  if (running_ == 0) return true;
  if (oversized_running_ > 0 || oversized(step)) return false;
  if (opt_.cpu_capacity > 0 && r.cpus > 0 && cpus_used_ + r.cpus > opt_.cpu_capacity) return false;
  if (r.gpus > 0 && gpus_used_ + r.gpus > opt_.gpu_capacity) return false;
  if (opt_.memory_capacity > 0 && r.memory > 0 && memory_used_ + r.memory > opt_.memory_capacity)
    return false;
  return true;
}

void SchedulerCore::take(int step, int sign) {
  const auto& r = steps_[step].resources;
  running_ += sign;
  cpus_used_ += sign * r.cpus;
  gpus_used_ += sign * r.gpus;
  memory_used_ += sign * r.memory;
  if (oversized(step)) oversized_running_ += sign;
}

std::vector<SchedAction> SchedulerCore::poll(double now) {
  std::vector<SchedAction> out;
  out.swap(pending_cancels_);
  // Timeouts: cancel first, abandon after the grace period.
  for (size_t i = 0; i < steps_.size(); ++i) {
    auto& in = info_[i];
    if (in.state != StepState::kRunning) continue;
    if (in.cancel_sent && in.abandon_at == 0) in.abandon_at = now + opt_.grace_s;
    if (!in.cancel_sent && in.deadline > 0 && now >= in.deadline) {
      in.cancel_sent = true;
      char buf[64];
      std::snprintf(buf, sizeof buf, "timed out after %gs", steps_[i].timeout_s);
      in.cancel_reason = buf;
      in.abandon_at = now + opt_.grace_s;
      out.push_back({SchedAction::kCancel, int(i), in.attempt, in.cancel_reason});
    } else if (in.cancel_sent && in.abandon_at > 0 && now >= in.abandon_at) {
      out.push_back({SchedAction::kAbandon, int(i), in.attempt,
                     in.cancel_reason + "; did not stop within the grace period"});
      take(int(i), -1);
      if (stop_all_) {
        in.state = StepState::kCancelled;
      } else {
        fail_or_retry(int(i), now);
      }
    }
  }
  // Skips and starts, in plan order.
  for (size_t i = 0; i < steps_.size(); ++i) {
    auto& in = info_[i];
    if (in.state != StepState::kPending) continue;
    if (stop_all_) {
      in.state = StepState::kCancelled;
      out.push_back({SchedAction::kSkip, int(i), 0, stop_reason_});
      continue;
    }
    bool ready = true;
    std::string blocked_by;
    for (int u : steps_[i].needs) {
      auto us = info_[u].state;
      if (is_success(us)) continue;
      ready = false;
      if (is_terminal(us)) {
        blocked_by = steps_[u].name + " " + to_string(us);
        break;
      }
    }
    if (!blocked_by.empty()) {
      in.state = StepState::kSkipped;
      out.push_back({SchedAction::kSkip, int(i), 0, "upstream " + blocked_by});
      continue;
    }
    if (!ready || in.ready_at > now || !fits(int(i))) continue;
    in.state = StepState::kRunning;
    in.attempt += 1;
    in.cancel_sent = false;
    in.abandon_at = 0;
    in.deadline = steps_[i].timeout_s > 0 ? now + steps_[i].timeout_s : 0;
    take(int(i), +1);
    out.push_back({SchedAction::kStart, int(i), in.attempt, ""});
  }
  // Skips can unblock nothing, but they can cascade: run the skip pass to a fixed point.
  bool again = std::any_of(out.begin(), out.end(),
                           [](const SchedAction& a) { return a.type == SchedAction::kSkip; });
  if (again) {
    auto more = poll(now);
    out.insert(out.end(), more.begin(), more.end());
  }
  return out;
}

FinishResult SchedulerCore::fail_or_retry(int step, double now) {
  auto& in = info_[step];
  const auto& rp = steps_[step].retries;
  if (!stop_all_ && in.attempt <= rp.max) {
    const double d = backoff(rp, in.attempt);
    in.state = StepState::kPending;
    in.ready_at = now + d;
    return {StepState::kPending, in.ready_at, d};
  }
  in.state = StepState::kFailed;
  if (opt_.fail_fast) cancel_all("cancelled by --fail-fast after " + steps_[step].name + " failed");
  return {StepState::kFailed, std::nullopt, 0};
}

FinishResult SchedulerCore::on_finished(int step, bool ok, bool cancelled, double now) {
  auto& in = info_[step];
  // A step abandoned after its grace period may still report in; it no longer counts.
  if (in.state != StepState::kRunning) return {in.state, std::nullopt, 0};
  take(step, -1);
  if (ok) {
    in.state = StepState::kSucceeded;
    return {in.state, std::nullopt, 0};
  }
  if (cancelled && stop_all_) {
    in.state = StepState::kCancelled;
    return {in.state, std::nullopt, 0};
  }
  return fail_or_retry(step, now);
}

void SchedulerCore::mark_skipped(int step) {
  auto& in = info_[step];
  if (in.state == StepState::kRunning) take(step, -1);
  in.state = StepState::kSkipped;
}

void SchedulerCore::cancel_all(const std::string& reason) {
  if (stop_all_) return;
  stop_all_ = true;
  stop_reason_ = reason;
  for (size_t i = 0; i < steps_.size(); ++i) {
    auto& in = info_[i];
    if (in.state == StepState::kRunning && !in.cancel_sent) {
      in.cancel_sent = true;
      in.cancel_reason = reason;
      in.abandon_at = 0;  // set on the next poll relative to its clock
      pending_cancels_.push_back({SchedAction::kCancel, int(i), in.attempt, reason});
    }
  }
}

std::optional<double> SchedulerCore::next_deadline() const {
  std::optional<double> t;
  auto consider = [&](double v) {
    if (v > 0 && (!t || v < *t)) t = v;
  };
  for (size_t i = 0; i < steps_.size(); ++i) {
    const auto& in = info_[i];
    if (in.state == StepState::kRunning) {
      if (!in.cancel_sent) consider(in.deadline);
      else consider(in.abandon_at);
    } else if (in.state == StepState::kPending && in.ready_at > 0) {
      consider(in.ready_at);
    }
  }
  return t;
}

bool SchedulerCore::finished() const {
  return std::all_of(info_.begin(), info_.end(), [](const Info& i) { return is_terminal(i.state); });
}

bool SchedulerCore::any_failed() const {
  return std::any_of(info_.begin(), info_.end(), [](const Info& i) {
    return i.state == StepState::kFailed || i.state == StepState::kCancelled;
  });
}

}  // namespace llmops::engine
