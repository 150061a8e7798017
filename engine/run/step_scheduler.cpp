#include "engine/run/step_scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace llmops::engine {

StepScheduler::StepScheduler(std::vector<SchedStep> steps, SchedOptions options)
    : steps_(std::move(steps)),
      info_(steps_.size()),
      opt_(options),
      rng_(options.seed),
      down_(steps_.size()),
      unmet_(steps_.size(), 0) {
  if (opt_.max_parallel < 1) opt_.max_parallel = 1;
  for (size_t i = 0; i < steps_.size(); ++i) {
    unmet_[i] = int(steps_[i].needs.size());
    for (int u : steps_[i].needs) down_[u].push_back(int(i));
    if (unmet_[i] == 0) ready_.insert(int(i));
  }
}

void StepScheduler::preset(int step, StepState state) {
  auto& in = info_[step];
  if (in.state == state) return;
  if (in.state == StepState::kRunning) set_running(step, false);
  const bool was_success = is_success(in.state);
  in.state = state;
  ready_.erase(step);
  if (state == StepState::kRunning) set_running(step, true);
  if (is_success(state) && !was_success) on_success(step);
  if (state == StepState::kPending && unmet_[step] == 0) ready_.insert(step);
  if (is_terminal(state) && !is_success(state)) on_dead(step);
}

void StepScheduler::on_success(int step) {
  for (int d : down_[step])
    if (--unmet_[d] == 0 && info_[d].state == StepState::kPending) ready_.insert(d);
}

void StepScheduler::on_dead(int step) {
  const std::string why = "upstream " + steps_[step].name + " " + to_string(info_[step].state);
  for (int d : down_[step])
    if (info_[d].state == StepState::kPending) skip_queue_.emplace_back(d, why);
}

void StepScheduler::set_running(int step, bool running) {
  if (running)
    running_set_.insert(step);
  else
    running_set_.erase(step);
}

double StepScheduler::backoff(const RetryPolicy& p, int attempt) {
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

bool StepScheduler::oversized(int step) const {
  const auto& r = steps_[step].resources;
  return (opt_.cpu_capacity > 0 && r.cpus > opt_.cpu_capacity) || r.gpus > opt_.gpu_capacity ||
         (opt_.memory_capacity > 0 && r.memory > opt_.memory_capacity);
}

bool StepScheduler::fits(int step) const {
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

void StepScheduler::take(int step, int sign) {
  const auto& r = steps_[step].resources;
  running_ += sign;
  cpus_used_ += sign * r.cpus;
  gpus_used_ += sign * r.gpus;
  memory_used_ += sign * r.memory;
  if (oversized(step)) oversized_running_ += sign;
}

std::vector<SchedAction> StepScheduler::poll(double now) {
  std::vector<SchedAction> out;
  out.swap(pending_cancels_);
  // Timeouts: cancel first, abandon after the grace period.
  const std::vector<int> running(running_set_.begin(), running_set_.end());
  for (int i : running) {
    auto& in = info_[i];
    if (in.cancel_sent && in.abandon_at == 0) in.abandon_at = now + opt_.grace_s;
    if (!in.cancel_sent && in.deadline > 0 && now >= in.deadline) {
      in.cancel_sent = true;
      char buf[64];
      std::snprintf(buf, sizeof buf, "timed out after %gs", steps_[i].timeout_s);
      in.cancel_reason = buf;
      in.abandon_at = now + opt_.grace_s;
      out.push_back({SchedAction::kCancel, i, in.attempt, in.cancel_reason});
    } else if (in.cancel_sent && in.abandon_at > 0 && now >= in.abandon_at) {
      out.push_back({SchedAction::kAbandon, i, in.attempt,
                     in.cancel_reason + "; did not stop within the grace period"});
      take(i, -1);
      set_running(i, false);
      if (stop_all_) {
        in.state = StepState::kCancelled;
      } else {
        fail_or_retry(i, now);
      }
    }
  }
  if (stop_all_ && !stop_applied_) {
    stop_applied_ = true;
    for (size_t i = 0; i < steps_.size(); ++i) {
      auto& in = info_[i];
      if (in.state != StepState::kPending) continue;
      in.state = StepState::kCancelled;
      out.push_back({SchedAction::kSkip, int(i), 0, stop_reason_});
    }
    ready_.clear();
    skip_queue_.clear();
  }
  // Skips cascade down the graph: each skipped step queues its own downstream steps.
  while (!skip_queue_.empty()) {
    auto [i, why] = skip_queue_.back();
    skip_queue_.pop_back();
    if (info_[i].state != StepState::kPending) continue;
    info_[i].state = StepState::kSkipped;
    ready_.erase(i);
    out.push_back({SchedAction::kSkip, i, 0, why});
    on_dead(i);
  }
  // Starts, in plan order.
  for (auto it = ready_.begin(); it != ready_.end() && running_ < opt_.max_parallel;) {
    const int i = *it;
    auto& in = info_[i];
    if (in.state != StepState::kPending) {
      it = ready_.erase(it);
      continue;
    }
    if (in.ready_at > now || !fits(i)) {
      ++it;
      continue;
    }
    it = ready_.erase(it);
    in.state = StepState::kRunning;
    in.attempt += 1;
    in.cancel_sent = false;
    in.abandon_at = 0;
    in.deadline = steps_[i].timeout_s > 0 ? now + steps_[i].timeout_s : 0;
    take(i, +1);
    set_running(i, true);
    out.push_back({SchedAction::kStart, i, in.attempt, ""});
  }
  return out;
}

FinishResult StepScheduler::fail_or_retry(int step, double now) {
  auto& in = info_[step];
  const auto& rp = steps_[step].retries;
  if (!stop_all_ && in.attempt <= rp.max) {
    const double d = backoff(rp, in.attempt);
    in.state = StepState::kPending;
    in.ready_at = now + d;
    ready_.insert(step);
    return {StepState::kPending, in.ready_at, d};
  }
  in.state = StepState::kFailed;
  on_dead(step);
  if (opt_.fail_fast) cancel_all("cancelled by --fail-fast after " + steps_[step].name + " failed");
  return {StepState::kFailed, std::nullopt, 0};
}

FinishResult StepScheduler::on_finished(int step, bool ok, bool cancelled, double now,
                                        bool retryable) {
  auto& in = info_[step];
  // A step abandoned after its grace period may still report in; it no longer counts.
  if (in.state != StepState::kRunning) return {in.state, std::nullopt, 0};
  take(step, -1);
  set_running(step, false);
  if (ok) {
    in.state = StepState::kSucceeded;
    on_success(step);
    return {in.state, std::nullopt, 0};
  }
  if (cancelled && stop_all_) {
    in.state = StepState::kCancelled;
    return {in.state, std::nullopt, 0};
  }
  if (!retryable) {
    in.state = StepState::kFailed;
    on_dead(step);
    if (opt_.fail_fast)
      cancel_all("cancelled by --fail-fast after " + steps_[step].name + " failed");
    return {in.state, std::nullopt, 0};
  }
  return fail_or_retry(step, now);
}

void StepScheduler::mark_skipped(int step) {
  auto& in = info_[step];
  if (in.state == StepState::kRunning) {
    take(step, -1);
    set_running(step, false);
  }
  ready_.erase(step);
  in.state = StepState::kSkipped;
  on_dead(step);
}

void StepScheduler::cancel_all(const std::string& reason) {
  if (stop_all_) return;
  stop_all_ = true;
  stop_reason_ = reason;
  for (int i : running_set_) {
    auto& in = info_[i];
    if (!in.cancel_sent) {
      in.cancel_sent = true;
      in.cancel_reason = reason;
      in.abandon_at = 0;  // set on the next poll relative to its clock
      pending_cancels_.push_back({SchedAction::kCancel, i, in.attempt, reason});
    }
  }
}

std::optional<double> StepScheduler::next_deadline() const {
  std::optional<double> t;
  auto consider = [&](double v) {
    if (v > 0 && (!t || v < *t)) t = v;
  };
  for (int i : running_set_) {
    const auto& in = info_[i];
    if (!in.cancel_sent)
      consider(in.deadline);
    else
      consider(in.abandon_at);
  }
  for (int i : ready_)
    if (info_[i].ready_at > 0) consider(info_[i].ready_at);
  return t;
}

bool StepScheduler::finished() const {
  // Every pending step is either in ready_ or waits on a pending upstream that is, so nothing
  // running, ready or queued for skipping means everything has ended (O(1): called every loop).
  if (!running_set_.empty() || !skip_queue_.empty() || !pending_cancels_.empty()) return false;
  if (stop_all_ && !stop_applied_) return false;
  for (int i : ready_)
    if (info_[i].state == StepState::kPending) return false;
  return true;
}

bool StepScheduler::any_failed() const {
  return std::any_of(info_.begin(), info_.end(), [](const Info& i) {
    return i.state == StepState::kFailed || i.state == StepState::kCancelled;
  });
}

void StepScheduler::adopt(int step, int attempt, double now) {
  auto& in = info_[step];
  if (in.state != StepState::kPending) return;
  ready_.erase(step);
  in.state = StepState::kRunning;
  in.attempt = attempt;
  in.cancel_sent = false;
  in.abandon_at = 0;
  in.deadline = steps_[step].timeout_s > 0 ? now + steps_[step].timeout_s : 0;
  take(step, +1);
  set_running(step, true);
}

}  // namespace llmops::engine
