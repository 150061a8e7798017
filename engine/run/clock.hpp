// Clock and CompletionQueue: how the run loop reads the time and waits for finished attempts.
//
// The loop never reads std::chrono or sleeps itself. SteadyClock waits on the queue for real
// (briefly spinning first: short steps finish within microseconds, and a sleep and a wake-up cost
// more than that). Tests give the loop a fake clock whose wait() moves time forward to the next
// thing a fake executor has scheduled and delivers it, so retries, back-off, timeouts and
// cancellation run without threads or sleeps (tests/engine/run/).
// CompletionQueue is thread-safe; a Clock is used from the loop's thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <shared_mutex>

#include "engine/exec/executor.hpp"

namespace llmops::engine {

// Where executors deliver completions. `on_arrival` runs on the completing thread first (the
// run loop seals the outputs there).
class CompletionQueue : public CompletionSink {
 public:
  explicit CompletionQueue(std::function<void(Completion&)> on_arrival = {})
      : on_arrival_(std::move(on_arrival)) {}

  void complete(Completion completion) override;
  // From now on completions are dropped without running the arrival hook, and if_open() runs
  // nothing; waits for hooks already running. For the end of a run: an abandoned attempt may
  // complete (or report progress) long after, when what the hook and callbacks use is gone.
  void close();
  // Runs `f` unless the queue is closed (close() waits for it); returns whether it ran.
  template <typename F>
  bool if_open(F&& f) {
    std::shared_lock lock(open_mu_);
    if (closed_) return false;
    f();
    return true;
  }
  // Everything that arrived, oldest first; empties the queue.
  std::deque<Completion> take();
  bool empty() const;
  // Blocks until something arrived or the steady clock reads `until`; spins for `spin_s` first.
  void wait_until(double until, double spin_s);

 private:
  std::function<void(Completion&)> on_arrival_;
  std::shared_mutex open_mu_;  // shared while a hook or if_open() runs; unique to close
  bool closed_ = false;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Completion> items_;
  std::atomic<uint64_t> arrivals_{0}, taken_{0};
};

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds on a monotonic scale (only differences mean something).
  virtual double now() = 0;
  // Returns once `queue` is not empty or now() >= until (it may return earlier: the loop checks).
  // `busy`: attempts are in flight, so a completion may be microseconds away.
  virtual void wait(CompletionQueue& queue, double until, bool busy) = 0;
};

class SteadyClock : public Clock {
 public:
  double now() override;
  void wait(CompletionQueue& queue, double until, bool busy) override;
};

}  // namespace llmops::engine
