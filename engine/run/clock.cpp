#include "engine/run/clock.hpp"

#include <chrono>
#include <thread>

#include "base/time.hpp"

namespace llmops::engine {

void CompletionQueue::complete(Completion completion) {
  std::shared_lock open(open_mu_);
  if (closed_) return;
  if (on_arrival_) on_arrival_(completion);
  std::lock_guard lock(mu_);
  items_.push_back(std::move(completion));
  arrivals_.fetch_add(1, std::memory_order_release);
  cv_.notify_one();
}

void CompletionQueue::close() {
  std::unique_lock lock(open_mu_);
  closed_ = true;
}

std::deque<Completion> CompletionQueue::take() {
  std::deque<Completion> out;
  std::lock_guard lock(mu_);
  out.swap(items_);
  taken_.fetch_add(out.size(), std::memory_order_relaxed);
  return out;
}

bool CompletionQueue::empty() const {
  std::lock_guard lock(mu_);
  return items_.empty();
}

void CompletionQueue::wait_until(double until, double spin_s) {
  if (spin_s > 0) {
    const double spin_end = std::min(until, base::steady_now() + spin_s);
    while (arrivals_.load(std::memory_order_acquire) == taken_.load(std::memory_order_relaxed) &&
           base::steady_now() < spin_end)
      std::this_thread::yield();
  }
  std::unique_lock lock(mu_);
  const double left = until - base::steady_now();
  if (!items_.empty() || left <= 0) return;
  cv_.wait_for(lock, std::chrono::duration<double>(left), [&] { return !items_.empty(); });
}

double SteadyClock::now() {
  return base::steady_now();
}

void SteadyClock::wait(CompletionQueue& queue, double until, bool busy) {
  constexpr double kSpinS = 50e-6;
  queue.wait_until(until, busy ? kSpinS : 0);
}

}  // namespace llmops::engine
