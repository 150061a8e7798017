// Admission of generation requests: the slots, the bounded first-come-first-served queue and
// its Retry-After estimate (see server_impl.hpp). handle_generation() turns outcomes into answers.
#include <algorithm>
#include <cmath>
#include <thread>

#include "server_impl.hpp"

namespace llmops::serve {

int default_max_concurrency() {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::clamp(16 * cores, 16, 128);
}

Admission::Outcome Admission::acquire(Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  if (stopping_) return Outcome::kStopping;
  if (running_ < slots_ && waiters_.empty()) {
    ++running_;
    return Outcome::kAdmitted;
  }
  if (static_cast<int>(waiters_.size()) >= capacity_) return Outcome::kQueueFull;
  Waiter w;
  waiters_.push_back(&w);
  w.cv.wait_until(lock, deadline, [&] { return w.admitted || stopping_; });
  if (w.admitted) return Outcome::kAdmitted;  // the slot was handed over: running_ counts it
  waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &w));
  return stopping_ ? Outcome::kStopping : Outcome::kTimedOut;
}

void Admission::release(double held_s) {
  std::lock_guard lock(mu_);
  mean_held_s_ = 0.9 * mean_held_s_ + 0.1 * std::max(0.0, held_s);
  if (waiters_.empty()) {
    --running_;
    return;
  }
  Waiter* next = waiters_.front();
  waiters_.pop_front();
  next->admitted = true;
  next->cv.notify_one();
}

void Admission::stop() {
  std::lock_guard lock(mu_);
  stopping_ = true;
  for (Waiter* w : waiters_) w->cv.notify_one();
}

int Admission::running() const {
  std::lock_guard lock(mu_);
  return running_;
}

int Admission::queued() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(waiters_.size());
}

int Admission::retry_after_s() const {
  std::lock_guard lock(mu_);
  const double ahead = static_cast<double>(waiters_.size()) + 1;
  const double s = std::ceil(mean_held_s_ * ahead / slots_);
  return static_cast<int>(std::clamp(s, 1.0, 60.0));
}

}  // namespace llmops::serve
