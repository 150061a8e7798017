// StepScheduler with a fake clock: no threads, no sleeps.
#include <catch2/catch.hpp>

#include <algorithm>

#include "engine/run/step_scheduler.hpp"

using namespace llmops::engine;

namespace {

SchedStep step(const std::string& name, std::vector<int> needs = {}) {
  SchedStep s;
  s.name = name;
  s.needs = std::move(needs);
  s.retries.max = 0;
  s.retries.jitter = false;
  return s;
}

std::vector<int> started(const std::vector<SchedAction>& acts) {
  std::vector<int> out;
  for (const auto& a : acts)
    if (a.type == SchedAction::kStart) out.push_back(a.step);
  return out;
}

int count(const std::vector<SchedAction>& acts, SchedAction::Type t) {
  return int(std::count_if(acts.begin(), acts.end(), [t](const auto& a) { return a.type == t; }));
}

}  // namespace

TEST_CASE("diamond runs in dependency order") {
  // a -> b, a -> c, b,c -> d
  StepScheduler core({step("a"), step("b", {0}), step("c", {0}), step("d", {1, 2})},
                     {.max_parallel = 4});
  CHECK(started(core.poll(0)) == std::vector<int>{0});
  CHECK(started(core.poll(0)).empty());  // b, c wait for a
  core.on_finished(0, true, false, 1);
  CHECK(started(core.poll(1)) == std::vector<int>{1, 2});
  core.on_finished(1, true, false, 2);
  CHECK(started(core.poll(2)).empty());  // d waits for c too
  core.on_finished(2, true, false, 3);
  CHECK(started(core.poll(3)) == std::vector<int>{3});
  core.on_finished(3, true, false, 4);
  CHECK(core.finished());
  CHECK_FALSE(core.any_failed());
}

TEST_CASE("max_parallel bounds the running steps") {
  std::vector<SchedStep> steps;
  for (int i = 0; i < 10; ++i) steps.push_back(step("s" + std::to_string(i)));
  StepScheduler core(steps, {.max_parallel = 3});
  CHECK(started(core.poll(0)).size() == 3);
  CHECK(core.running_count() == 3);
  core.on_finished(0, true, false, 1);
  CHECK(started(core.poll(1)) == std::vector<int>{3});
  int guard = 0;
  while (!core.finished() && guard++ < 100) {
    for (int i = 0; i < 10; ++i)
      if (core.state(i) == StepState::kRunning) core.on_finished(i, true, false, 2);
    CHECK(started(core.poll(2)).size() <= 3);
  }
  CHECK(core.finished());
}

TEST_CASE("declared cpus limit concurrency") {
  auto a = step("a"), b = step("b"), c = step("c");
  a.resources.cpus = b.resources.cpus = c.resources.cpus = 1;
  StepScheduler core({a, b, c}, {.max_parallel = 8, .cpu_capacity = 2});
  CHECK(started(core.poll(0)).size() == 2);
}

TEST_CASE("a failure skips downstream, independent branches go on") {
  // a -> b -> c ; x independent
  StepScheduler core({step("a"), step("b", {0}), step("c", {1}), step("x")}, {.max_parallel = 4});
  CHECK(started(core.poll(0)) == std::vector<int>{0, 3});
  auto fr = core.on_finished(0, false, false, 1);
  CHECK(fr.state == StepState::kFailed);
  auto acts = core.poll(1);
  CHECK(count(acts, SchedAction::kSkip) == 2);
  CHECK(core.state(1) == StepState::kSkipped);
  CHECK(core.state(2) == StepState::kSkipped);
  CHECK(core.state(3) == StepState::kRunning);
  core.on_finished(3, true, false, 2);
  core.poll(2);
  CHECK(core.finished());
  CHECK(core.state(3) == StepState::kSucceeded);
  CHECK(core.any_failed());
}

TEST_CASE("fail-fast cancels running steps and everything pending") {
  StepScheduler core({step("a"), step("b"), step("c", {0})},
                     {.max_parallel = 2, .fail_fast = true, .grace_s = 5});
  core.poll(0);
  core.on_finished(0, false, false, 1);
  auto acts = core.poll(1);
  CHECK(count(acts, SchedAction::kCancel) == 1);  // b
  CHECK(core.state(2) == StepState::kCancelled);
  core.on_finished(1, false, true, 1.5);
  CHECK(core.state(1) == StepState::kCancelled);
  CHECK(core.finished());
}

TEST_CASE("retries back off exponentially up to the cap") {
  auto s = step("flaky");
  s.retries = {.max = 3, .initial_s = 1, .factor = 2, .max_s = 3, .jitter = false};
  StepScheduler core({s}, {.max_parallel = 1});
  CHECK(started(core.poll(0)) == std::vector<int>{0});
  auto f1 = core.on_finished(0, false, false, 10);
  REQUIRE(f1.retry_at);
  CHECK(*f1.retry_at == Approx(11));
  CHECK(started(core.poll(10.5)).empty());  // still backing off
  CHECK(core.next_deadline() == Approx(11));
  CHECK(started(core.poll(11)) == std::vector<int>{0});
  CHECK(core.attempts(0) == 2);
  auto f2 = core.on_finished(0, false, false, 12);
  CHECK(*f2.retry_at == Approx(14));  // 1 * 2
  core.poll(14);
  auto f3 = core.on_finished(0, false, false, 20);
  CHECK(*f3.retry_at == Approx(23));  // 4 capped to 3
  core.poll(23);
  auto f4 = core.on_finished(0, false, false, 24);
  CHECK_FALSE(f4.retry_at);
  CHECK(f4.state == StepState::kFailed);
  CHECK(core.attempts(0) == 4);
}

TEST_CASE("jittered back-off stays between half and the full delay") {
  auto s = step("flaky");
  s.retries = {.max = 50, .initial_s = 8, .factor = 1, .max_s = 8, .jitter = true};
  StepScheduler core({s}, {.max_parallel = 1, .seed = 42});
  double t = 0;
  bool varied = false;
  double first = -1;
  for (int i = 0; i < 50; ++i) {
    core.poll(t);
    auto fr = core.on_finished(0, false, false, t);
    REQUIRE(fr.retry_at);
    CHECK(fr.retry_delay >= 4.0);
    CHECK(fr.retry_delay <= 8.0);
    if (first < 0) first = fr.retry_delay;
    varied |= fr.retry_delay != first;
    t = *fr.retry_at;
  }
  CHECK(varied);
}

TEST_CASE("a timeout cancels, then abandons after the grace period, then retries") {
  auto s = step("slow");
  s.timeout_s = 30;
  s.retries = {.max = 1, .initial_s = 1, .factor = 2, .max_s = 10, .jitter = false};
  StepScheduler core({s}, {.max_parallel = 1, .grace_s = 5});
  core.poll(0);
  CHECK(core.next_deadline() == Approx(30));
  CHECK(count(core.poll(29), SchedAction::kCancel) == 0);
  CHECK(count(core.poll(30), SchedAction::kCancel) == 1);
  CHECK(core.next_deadline() == Approx(35));
  CHECK(count(core.poll(34), SchedAction::kAbandon) == 0);
  auto acts = core.poll(35);
  CHECK(count(acts, SchedAction::kAbandon) == 1);
  CHECK(core.state(0) == StepState::kPending);  // will retry
  // The abandoned attempt reporting late changes nothing.
  core.on_finished(0, true, false, 35.5);
  CHECK(core.state(0) == StepState::kPending);
  CHECK(started(core.poll(36)) == std::vector<int>{0});
  core.on_finished(0, true, false, 37);
  CHECK(core.state(0) == StepState::kSucceeded);
}

TEST_CASE("a step that stops when cancelled by its timeout fails without waiting for grace") {
  auto s = step("slow");
  s.timeout_s = 2;
  StepScheduler core({s, step("after", {0})}, {.max_parallel = 1, .grace_s = 5});
  core.poll(0);
  CHECK(count(core.poll(2), SchedAction::kCancel) == 1);
  auto fr = core.on_finished(0, false, true, 2.1);
  CHECK(fr.state == StepState::kFailed);
  core.poll(2.1);
  CHECK(core.state(1) == StepState::kSkipped);
  CHECK(core.finished());
}

TEST_CASE("when-false skips propagate, resume presets finished steps") {
  StepScheduler core({step("a"), step("b", {0}), step("c", {1})}, {.max_parallel = 2});
  core.preset(0, StepState::kSucceeded);
  CHECK(started(core.poll(0)) == std::vector<int>{1});
  core.mark_skipped(1);
  core.poll(0);
  CHECK(core.state(2) == StepState::kSkipped);
  CHECK(core.finished());
  CHECK_FALSE(core.any_failed());
}

TEST_CASE("a step larger than the machine still runs, alone") {
  auto big = step("big");
  big.resources.memory = int64_t(1) << 50;
  StepScheduler core({big, step("small")}, {.max_parallel = 2, .memory_capacity = 1 << 30});
  auto s = started(core.poll(0));
  CHECK(s == std::vector<int>{0});
  core.on_finished(0, true, false, 1);
  CHECK(started(core.poll(1)) == std::vector<int>{1});
}
