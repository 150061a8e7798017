// StepPool: every posted job runs, up to one per thread at a time, and a stuck job does not
// hold up release().
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "engine/run/step_pool.hpp"

using llmops::engine::StepPool;
using namespace std::chrono_literals;

namespace {

// Waits (bounded) until `pred` holds.
template <typename P>
bool eventually(P pred, std::chrono::milliseconds limit = 10s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

TEST_CASE("a step pool runs every job it is given", "[engine][pool]") {
  std::atomic<int> ran{0};
  {
    StepPool pool(3);
    for (int i = 0; i < 2000; ++i) pool.post([&] { ran.fetch_add(1); });
  }  // the destructor runs what was posted, then joins
  CHECK(ran.load() == 2000);
}

TEST_CASE("a step pool runs one job per thread at a time, all threads in use", "[engine][pool]") {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  std::atomic<int> running{0}, peak{0}, ran{0};
  {
    StepPool pool(3);
    for (int i = 0; i < 6; ++i)
      pool.post([&] {
        const int now = running.fetch_add(1) + 1;
        int p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) {
        }
        {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return open; });
        }
        running.fetch_sub(1);
        ran.fetch_add(1);
      });
    // Three jobs start at once (one per thread) and the other three wait for a free thread.
    REQUIRE(eventually([&] { return running.load() == 3; }));
    CHECK(ran.load() == 0);
    {
      std::lock_guard lock(mu);
      open = true;
    }
    cv.notify_all();
  }
  CHECK(ran.load() == 6);
  CHECK(peak.load() == 3);
}

TEST_CASE("a released pool does not wait for a stuck job", "[engine][pool]") {
  auto stuck = std::make_shared<std::atomic<bool>>(true);
  std::atomic<bool> started{false};
  auto pool = std::make_unique<StepPool>(2);
  pool->post([stuck, &started] {
    started = true;
    while (stuck->load()) std::this_thread::sleep_for(1ms);
  });
  REQUIRE(eventually([&] { return started.load(); }));
  const auto t0 = std::chrono::steady_clock::now();
  StepPool::release(std::move(pool));
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
  stuck->store(false);  // let the detached thread end
}
