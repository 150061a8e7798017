// StepPool: the threads that run step attempts, over a Boost.Asio io_context.
//
// A thread that has just finished a job looks for the next one for a short while before it
// blocks. On a chain of short steps the next job arrives within tens of microseconds, and a
// blocked thread would cost a futex wake-up and a context switch for every step.
#pragma once

#include <functional>
#include <memory>

namespace llmops::engine {

class StepPool {
 public:
  StepPool(int threads, double spin_s = 50e-6);
  ~StepPool();  // runs what was posted, then joins (see release())
  StepPool(const StepPool&) = delete;
  StepPool& operator=(const StepPool&) = delete;

  void post(std::function<void()> job);
  // Lets the threads finish what was posted and exit, without waiting for them: for a pool
  // where a thread is stuck in a plugin that ignored cancellation. The pool's state is leaked
  // on purpose (the stuck thread still uses it).
  static void release(std::unique_ptr<StepPool> pool);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace llmops::engine
