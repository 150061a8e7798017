#include "engine/run/step_pool.hpp"

#include <atomic>
#include <chrono>
#include <deque>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace llmops::engine {

namespace asio = boost::asio;

namespace {

enum WorkerState : int { kBusy, kSpinning, kBlocked };

// One thread with its own io_context, so that a job can go to a thread known to be looking for
// work (a post to it is a queue push, no wake-up), rather than to whichever thread asio wakes.
struct Worker {
  asio::io_context ctx{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard{ctx.get_executor()};
  std::atomic<int> state{kSpinning};
  std::atomic<int> queued{0};  // posted and not yet finished
  std::thread thread;

  void work(std::chrono::steady_clock::duration spin) {
    using clock = std::chrono::steady_clock;
    for (;;) {
      state.store(kSpinning, std::memory_order_release);
      bool ran = false;
      const auto until = clock::now() + spin;
      do {
        if (ctx.poll_one() > 0) {
          ran = true;
          break;
        }
        if (ctx.stopped()) return;
        std::this_thread::yield();
      } while (clock::now() < until);
      if (ran) continue;
      state.store(kBlocked, std::memory_order_release);
      if (ctx.run_one() == 0) return;  // stopped: nothing queued and no guard
    }
  }
};

}  // namespace

struct StepPool::Impl {
  std::deque<Worker> workers;  // deque: Workers do not move
  std::chrono::steady_clock::duration spin;

  // A thread looking for work, else a blocked idle one, else the least loaded.
  Worker& pick() {
    Worker* best = nullptr;
    int best_rank = 1 << 30;
    for (auto& w : workers) {
      const int q = w.queued.load(std::memory_order_acquire);
      const int s = w.state.load(std::memory_order_acquire);
      const int rank = q > 0 ? 2 + q : s == kSpinning ? 0 : 1;
      if (rank < best_rank) best = &w, best_rank = rank;
      if (rank == 0) break;
    }
    return *best;
  }
};

StepPool::StepPool(int threads, double spin_s) : impl_(std::make_shared<Impl>()) {
  impl_->spin = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(spin_s));
  for (int i = 0; i < std::max(1, threads); ++i) {
    Worker& w = impl_->workers.emplace_back();
    w.thread = std::thread([&w, spin = impl_->spin] { w.work(spin); });
  }
}

StepPool::~StepPool() {
  if (!impl_) return;
  for (auto& w : impl_->workers) w.guard.reset();
  for (auto& w : impl_->workers) w.thread.join();
}

void StepPool::post(std::function<void()> job) {
  Worker& w = impl_->pick();
  w.queued.fetch_add(1, std::memory_order_acq_rel);
  asio::post(w.ctx, [&w, job = std::move(job)] {
    w.state.store(kBusy, std::memory_order_release);
    job();
    w.queued.fetch_sub(1, std::memory_order_acq_rel);
  });
}

void StepPool::release(std::unique_ptr<StepPool> pool) {
  if (!pool) return;
  auto impl = std::move(pool->impl_);
  for (auto& w : impl->workers) {
    w.guard.reset();
    w.thread.detach();
  }
  new std::shared_ptr<Impl>(std::move(impl));  // leaked: a detached thread may still use it
}

}  // namespace llmops::engine
