// The run loop driven by a fake clock and a fake executor over a real store: retries with
// back-off, timeouts, fail-fast, skip-downstream, cancellation, write errors, and resume after a
// crash at every write of a run. No threads, no sleeps.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>

#include "engine/run/run_loop.hpp"
#include "engine/run/runner.hpp"
#include "fake_world.hpp"
#include "tests/common/temp_dir.hpp"

using namespace llmops;
using namespace llmops::engine;
using llmops::testing::fails;
using llmops::testing::FakeCatalog;
using llmops::testing::FakeWorld;
using llmops::testing::lasts;
using llmops::testing::Script;

namespace {

const char* kChain = R"(apiVersion: llmops/v1
kind: Pipeline
name: chain
steps:
  a: {uses: testing/write}
  b: {uses: testing/write, inputs: {in: "${{ steps.a.outputs.out }}"}}
  c: {uses: testing/write, inputs: {in: "${{ steps.b.outputs.out }}"}}
)";

// Makes the k-th write (1-based) and every one after it fail, as a crash would.
class FailingRecorder : public RunRecorder {
 public:
  FailingRecorder(store::Store& st, int64_t run, int fail_at)
      : RunRecorder(st, run), fail_at_(fail_at) {}
  int writes = 0;
  std::vector<std::string> names;  // of every write, in order

 protected:
  Status before_write(const char* what) override {
    ++writes;
    names.push_back(what);
    if (fail_at_ > 0 && writes >= fail_at_) return Status::internal(std::string("disk gone"));
    return Status::ok();
  }

 private:
  int fail_at_;
};

struct Fixture {
  llmops::testing::TempDir dir{"run-loop"};
  std::unique_ptr<store::Store> st;
  FakeCatalog catalog;
  std::shared_ptr<const LoadedPipeline> pipeline;
  std::optional<Plan> plan;
  int64_t run_id = 0;

  explicit Fixture(const std::string& yaml) {
    st = std::move(store::Store::open(dir.path / "home").value());
    LoadOptions lo;
    lo.catalog = &catalog;
    pipeline = std::make_shared<LoadedPipeline>(LoadedPipeline::from_text(yaml, "p.yaml", lo));
    INFO(error_lines(pipeline->diagnostics));
    REQUIRE(pipeline->ok());
    auto p = Plan::build(pipeline, catalog);
    REQUIRE(p);
    plan.emplace(std::move(p.value()));
    run_id = record_run(*st, *pipeline, {}).value();
  }

  // Runs (or resumes) the run with `world` as clock and executor.
  Result<RunSummary> run(FakeWorld& world, RunRecorder* recorder = nullptr,
                         RunLoopOptions options = {}) {
    auto fw = std::shared_ptr<FakeWorld>(&world, [](FakeWorld*) {});
    ExecutorMap executors{{"inprocess", fw}};
    RunRecorder plain(*st, run_id);
    if (options.max_parallel <= 1) options.max_parallel = 4;
    // Steps of these pipelines share a plugin and parameters: without this, one would be a
    // cache hit of another.
    options.no_cache = true;
    RunLoop loop(*plan, st->get_run(run_id).value(), *st, catalog, recorder ? *recorder : plain,
                 executors, world, options);
    return loop.run();
  }

  std::vector<store::ExecutionInfo> executions(const std::string& step) {
    std::vector<store::ExecutionInfo> out;
    auto all = st->list_executions(run_id);
    for (const auto& e : all.value())
      if (e.step == step) out.push_back(e);
    return out;
  }
  std::optional<store::State> state_of(const std::string& step) {
    auto steps = st->list_steps(run_id);
    for (const auto& s : steps.value())
      if (s.step == step) return s.state;
    return std::nullopt;
  }
};

}  // namespace

TEST_CASE("run loop: a chain runs in order, with lineage, and the run is recorded") {
  Fixture fx(kChain);
  FakeWorld world;
  auto s = fx.run(world);
  REQUIRE(s);
  CHECK(s->state == store::State::kSucceeded);
  CHECK(world.submitted == std::vector<std::string>{"a#1", "b#1", "c#1"});
  CHECK(world.submit_times["b#1"] - world.submit_times["a#1"] == Approx(1.0));
  CHECK(fx.st->get_run(fx.run_id)->state == store::State::kSucceeded);
  // b's input is exactly what a made.
  auto a_out = fx.st->execution_events(fx.executions("a").at(0).id, true).value();
  auto b_in = fx.st->execution_events(fx.executions("b").at(0).id, false).value();
  REQUIRE(a_out.size() == 1);
  REQUIRE(b_in.size() == 1);
  CHECK(b_in[0].artifact.digest == a_out[0].artifact.digest);
  CHECK(std::filesystem::exists(a_out[0].artifact.uri));
}

TEST_CASE("run loop: a failing attempt is retried with back-off, then succeeds") {
  Fixture fx(R"(apiVersion: llmops/v1
kind: Pipeline
name: retry
steps:
  a:
    uses: testing/write
    retries: {max: 2, initial: 10s, factor: 2, jitter: false}
  b: {uses: testing/write, needs: [a]}
)");
  FakeWorld world;
  world.scripts["a#1"] = fails("flaky");
  world.scripts["a#2"] = fails("flaky again");
  std::vector<RunEvent> events;  // the loop's thread only: FakeWorld runs no step threads
  RunLoopOptions options;
  options.on_event = [&](const RunEvent& ev) {
    if (ev.step == "a" && ev.type != RunEvent::kProgress) events.push_back(ev);
  };
  auto s = fx.run(world, nullptr, options);
  REQUIRE(s);
  CHECK(s->state == store::State::kSucceeded);
  CHECK(world.submitted == std::vector<std::string>{"a#1", "a#2", "a#3", "b#1"});
  // What `llmops run` prints as running, retrying, running, retrying, running, succeeded.
  std::vector<std::pair<RunEvent::Type, store::State>> seen;
  for (const auto& ev : events) seen.emplace_back(ev.type, ev.state);
  const auto retry = std::make_pair(RunEvent::kRetry, store::State::kPending);
  const auto running = std::make_pair(RunEvent::kState, store::State::kRunning);
  CHECK(seen == std::vector{running, retry, running, retry, running,
                            std::make_pair(RunEvent::kState, store::State::kSucceeded)});
  // Back-off: 10 s after the first failure, 20 s after the second.
  CHECK(world.submit_times["a#2"] - world.submit_times["a#1"] == Approx(1 + 10));
  CHECK(world.submit_times["a#3"] - world.submit_times["a#2"] == Approx(1 + 20));
  auto ex = fx.executions("a");
  REQUIRE(ex.size() == 3);
  CHECK(ex[0].state == store::State::kFailed);
  CHECK(ex[0].error == "flaky");
  CHECK(ex[2].state == store::State::kSucceeded);
}

TEST_CASE("run loop: a failure skips everything downstream, not independent branches") {
  Fixture fx(R"(apiVersion: llmops/v1
kind: Pipeline
name: skip
steps:
  a: {uses: testing/write}
  b: {uses: testing/write, needs: [a]}
  c: {uses: testing/write, needs: [b]}
  other: {uses: testing/write}
)");
  FakeWorld world;
  world.scripts["a"] = fails("broken");
  auto s = fx.run(world);
  REQUIRE(s);
  CHECK(s->state == store::State::kFailed);
  CHECK(s->step_states["b"] == store::State::kSkipped);
  CHECK(s->step_states["c"] == store::State::kSkipped);
  CHECK(s->step_states["other"] == store::State::kSucceeded);
  CHECK(fx.state_of("c") == store::State::kSkipped);
  CHECK(std::count(world.submitted.begin(), world.submitted.end(), "b#1") == 0);
  CHECK(fx.st->get_run(fx.run_id)->state == store::State::kFailed);
}

TEST_CASE("run loop: a step past its timeout is cancelled and fails, downstream is skipped") {
  Fixture fx(R"(apiVersion: llmops/v1
kind: Pipeline
name: timeout
steps:
  slow: {uses: testing/write, timeout: 5s}
  after: {uses: testing/write, needs: [slow]}
)");
  FakeWorld world;
  world.scripts["slow"] = lasts(3600);
  auto s = fx.run(world);
  REQUIRE(s);
  CHECK(s->state == store::State::kFailed);
  CHECK(world.cancels == std::vector<std::string>{"slow"});
  auto ex = fx.executions("slow");
  REQUIRE(ex.size() == 1);
  CHECK(ex[0].state == store::State::kFailed);
  CHECK(ex[0].error.find("timed out") != std::string::npos);
  CHECK(s->step_states["after"] == store::State::kSkipped);
}

TEST_CASE("run loop: a step that ignores cancellation is abandoned after the grace period") {
  Fixture fx(R"(apiVersion: llmops/v1
kind: Pipeline
name: stuck
steps:
  stuck: {uses: testing/write, timeout: 5s}
)");
  FakeWorld world;
  world.scripts["stuck"] = lasts(3600, /*honours_cancel=*/false);
  RunLoopOptions o;
  o.grace_s = 2;
  auto s = fx.run(world, nullptr, o);
  REQUIRE(s);
  CHECK(s->state == store::State::kFailed);
  CHECK(world.abandoned == std::vector<std::string>{"stuck"});
  auto ex = fx.executions("stuck");
  REQUIRE(ex.size() == 1);
  CHECK(ex[0].state == store::State::kFailed);
}

TEST_CASE("run loop: fail-fast cancels the running steps and skips the pending ones") {
  Fixture fx(R"(apiVersion: llmops/v1
kind: Pipeline
name: ff
steps:
  bad: {uses: testing/write}
  long: {uses: testing/write}
  later: {uses: testing/write, needs: [long]}
)");
  FakeWorld world;
  world.scripts["bad"] = fails("no");
  world.scripts["long"] = lasts(100);
  RunLoopOptions o;
  o.fail_fast = true;
  auto s = fx.run(world, nullptr, o);
  REQUIRE(s);
  CHECK(s->state == store::State::kFailed);
  CHECK(world.cancels == std::vector<std::string>{"long"});
  CHECK(fx.executions("long").at(0).state == store::State::kCancelled);
  CHECK(s->step_states["later"] != store::State::kSucceeded);
  CHECK(std::count(world.submitted.begin(), world.submitted.end(), "later#1") == 0);
}

TEST_CASE("run loop: an interrupt cancels the run") {
  Fixture fx(kChain);
  FakeWorld world;
  RunLoopOptions o;
  o.interrupt = std::make_shared<std::atomic<bool>>(false);
  world.on_submit = [&](const StepRequest& r) {
    if (r.step == "b") o.interrupt->store(true);
  };
  auto s = fx.run(world, nullptr, o);
  REQUIRE(s);
  CHECK(s->state == store::State::kCancelled);
  CHECK(fx.executions("b").at(0).state == store::State::kCancelled);
  CHECK(fx.executions("c").empty());
  CHECK(fx.st->get_run(fx.run_id)->state == store::State::kCancelled);
}

TEST_CASE("run loop: the first store write error ends the run, nothing runs after it") {
  Fixture fx(kChain);
  // A clean run's writes, counted.
  int clean_writes = 0;
  {
    Fixture probe(kChain);
    FakeWorld w;
    FailingRecorder counting(*probe.st, probe.run_id, 0);
    REQUIRE(probe.run(w, &counting));
    clean_writes = counting.writes;
  }
  REQUIRE(clean_writes > 6);
  FakeWorld world;
  FailingRecorder rec(*fx.st, fx.run_id, clean_writes / 2);
  auto s = fx.run(world, &rec);
  REQUIRE_FALSE(s);
  CHECK(s.status().message().find("disk gone") != std::string::npos);
  CHECK(fx.st->get_run(fx.run_id)->state == store::State::kFailed);
  CHECK(world.submitted.size() < 3);
}

TEST_CASE("run loop: resume after a crash at every write finishes the run exactly once") {
  int clean_writes = 0;
  {
    Fixture probe(kChain);
    FakeWorld w;
    FailingRecorder counting(*probe.st, probe.run_id, 0);
    REQUIRE(probe.run(w, &counting));
    clean_writes = counting.writes;
  }
  for (int k = 1; k <= clean_writes; ++k) {
    DYNAMIC_SECTION("crash at write " << k) {
      Fixture fx(kChain);
      {
        FakeWorld world;  // its attempts in flight die with it
        FailingRecorder rec(*fx.st, fx.run_id, k);
        auto crashed = fx.run(world, &rec);
        REQUIRE_FALSE(crashed);
      }
      std::map<std::string, bool> done_before;
      auto before = fx.st->list_executions(fx.run_id);
      for (const auto& e : before.value())
        if (e.state == store::State::kSucceeded) done_before[e.step] = true;
      FakeWorld again;
      auto s = fx.run(again);
      REQUIRE(s);
      CHECK(s->state == store::State::kSucceeded);
      for (const char* step : {"a", "b", "c"}) {
        int good = 0;
        for (const auto& e : fx.executions(step)) good += e.state == store::State::kSucceeded;
        CHECK(good == 1);  // never lost, never done twice
        if (done_before[step])
          CHECK(std::none_of(again.submitted.begin(), again.submitted.end(),
                             [&](const std::string& s) { return s.rfind(step, 0) == 0; }));
      }
      auto b_out = fx.st->execution_events(fx.executions("b").back().id, true).value();
      auto c_in = fx.st->execution_events(fx.executions("c").back().id, false).value();
      REQUIRE(c_in.size() == 1);
      CHECK(c_in[0].artifact.digest == b_out.at(0).artifact.digest);
      CHECK(fx.st->get_run(fx.run_id)->state == store::State::kSucceeded);
    }
  }
}

// The write (1-based) right after b's external id is recorded, in a clean run of kChain whose
// executor gives external ids: failing there leaves b running out there with no engine.
int write_after_b_started() {
  Fixture probe(kChain);
  FakeWorld w;
  w.external_ids = true;
  FailingRecorder counting(*probe.st, probe.run_id, 0);
  REQUIRE(probe.run(w, &counting));
  int seen = 0;
  for (size_t i = 0; i < counting.names.size(); ++i)
    if (counting.names[i] == "external id" && ++seen == 2) return int(i) + 2;
  FAIL("b's external id was never recorded");
  return 0;
}

// Runs kChain in `fx` until the engine "dies" with b running.
void crash_with_b_running(Fixture& fx) {
  const int k = write_after_b_started();
  FakeWorld world;
  world.external_ids = true;
  FailingRecorder rec(*fx.st, fx.run_id, k);
  REQUIRE_FALSE(fx.run(world, &rec));
}

TEST_CASE("run loop: a restarted engine reattaches to an attempt still running outside it") {
  Fixture fx(kChain);
  crash_with_b_running(fx);
  REQUIRE(fx.executions("b").size() == 1);
  CHECK(fx.executions("b")[0].state == store::State::kRunning);
  CHECK(fx.executions("b")[0].external_id == "fake-b#1");

  FakeWorld again;
  again.external_ids = true;
  again.out_there["fake-b#1"] = lasts(2);
  auto s = fx.run(again);
  REQUIRE(s);
  CHECK(s->state == store::State::kSucceeded);
  CHECK(again.reattached == std::vector<std::string>{"fake-b#1"});
  CHECK(again.submitted == std::vector<std::string>{"c#1"});  // b is not run a second time
  auto b = fx.executions("b");
  REQUIRE(b.size() == 1);
  CHECK(b[0].state == store::State::kSucceeded);
  auto b_out = fx.st->execution_events(b[0].id, true).value();
  auto c_in = fx.st->execution_events(fx.executions("c").at(0).id, false).value();
  REQUIRE(c_in.size() == 1);
  CHECK(c_in[0].artifact.digest == b_out.at(0).artifact.digest);
}

TEST_CASE("run loop: an attempt that cannot be reattached is recorded as interrupted and rerun") {
  Fixture fx(kChain);
  crash_with_b_running(fx);
  FakeWorld again;  // knows no job: b died with the engine
  auto s = fx.run(again);
  REQUIRE(s);
  CHECK(s->state == store::State::kSucceeded);
  CHECK(again.submitted == std::vector<std::string>{"b#2", "c#1"});
  auto b = fx.executions("b");
  REQUIRE(b.size() == 2);
  CHECK(b[0].state == store::State::kFailed);
  CHECK(b[0].error.find("interrupted") != std::string::npos);
  CHECK(b[1].state == store::State::kSucceeded);
}
