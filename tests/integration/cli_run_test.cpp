// Integration: `llmops run` on real pipelines with the testing plugins: results, caching,
// retries, failures, timeouts and `when:` conditions, read back through `show --json`.
#include <catch2/catch.hpp>

#include "cli_harness.hpp"

using namespace llmops::testing;
using nlohmann::json;

namespace {

// a, b -> c -> d, with a param in a's text so overrides can change it.
constexpr char kDiamond[] = R"(apiVersion: llmops/v1
kind: Pipeline
name: diamond
params:
  ta: {type: string, default: A}
steps:
  a:
    uses: testing/write
    with: {text: "${{ params.ta }}"}
  b:
    uses: testing/write
    with: {text: B}
  c:
    uses: testing/concat
    with: {separator: "+"}
    inputs:
      x: "${{ steps.a.outputs.out }}"
      y: "${{ steps.b.outputs.out }}"
  d:
    uses: testing/concat
    with: {separator: "/"}
    inputs:
      first: "${{ steps.c.outputs.out }}"
      second: "${{ steps.b.outputs.out }}"
  e:
    uses: testing/concat
    inputs:
      only: "${{ steps.b.outputs.out }}"
)";

json run_json(const TempHome& t, std::vector<std::string> args, int expect_exit) {
  auto r = run_cli(t, args);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == expect_exit);
  auto j = json::parse(r.out, nullptr, false);
  REQUIRE(j.is_object());
  return j;
}

std::map<std::string, std::string> states(const json& run_summary) {
  return run_summary["steps"].get<std::map<std::string, std::string>>();
}

}  // namespace

TEST_CASE("a diamond pipeline runs and records outputs and metrics", "[integration][run]") {
  TempHome t;
  const auto file = t.write("diamond.yaml", kDiamond);
  auto sum = run_json(t, {"run", file.string(), "--json"}, 0);
  CHECK(sum["state"] == "succeeded");
  const int64_t run = sum["run"];
  for (const auto& [step, state] : states(sum)) CHECK(state == "succeeded");
  CHECK(sum["steps"].size() == 5);

  auto show = show_json(t, run);
  REQUIRE(show.is_object());
  CHECK(show["state"] == "succeeded");
  CHECK(show["pipeline"] == "diamond");
  CHECK(show["params"]["ta"] == "A");
  REQUIRE(show["steps"].size() == 5);
  for (const auto& s : show["steps"]) {
    INFO("step " << s["step"]);
    CHECK(s["state"] == "succeeded");
    CHECK(s["attempts"] == 1);
    REQUIRE(s["executions"].size() == 1);
    CHECK(s["executions"][0]["state"] == "succeeded");
    CHECK(s["executions"][0]["outputs"].contains("out"));
  }
  CHECK(read_artifact(output_of(show, "a")["uri"].get<std::string>()) == "A");
  CHECK(read_artifact(output_of(show, "c")["uri"].get<std::string>()) == "A+B");
  CHECK(read_artifact(output_of(show, "d")["uri"].get<std::string>()) == "A+B/B");
  CHECK(output_of(show, "d")["digest"].get<std::string>().rfind("sha256:", 0) == 0);

  // Inputs are recorded with the digests of the upstream outputs.
  const auto c_exec = step_of(show, "c")["executions"][0];
  CHECK(c_exec["inputs"]["x"]["digest"] == output_of(show, "a")["digest"]);
  CHECK(c_exec["inputs"]["y"]["digest"] == output_of(show, "b")["digest"]);

  // Metrics: write reports bytes, concat the number of inputs.
  const auto a_metrics = step_of(show, "a")["executions"][0]["metrics"];
  REQUIRE(a_metrics.contains("bytes"));
  CHECK(a_metrics["bytes"][0]["value"] == 1.0);
  CHECK(step_of(show, "d")["executions"][0]["metrics"]["inputs"][0]["value"] == 2.0);

  // `runs --json` lists it; `artifacts --json` holds each distinct output exactly once.
  auto runs = run_cli(t, {"runs", "--json"});
  REQUIRE(runs.exit_code == 0);
  auto rj = runs.json();
  REQUIRE(rj.size() == 1);
  CHECK(rj[0]["id"] == run);
  CHECK(rj[0]["state"] == "succeeded");
  CHECK(rj[0]["pipeline"] == "diamond");
  CHECK(rj[0]["trigger"] == "manual");

  auto arts = run_cli(t, {"artifacts", "--json"});
  REQUIRE(arts.exit_code == 0);
  std::set<std::string> digests;
  for (const auto& a : arts.json()) {
    CHECK(digests.insert(a["digest"].get<std::string>()).second);
    CHECK(fs::exists(a["uri"].get<std::string>()));
  }
  for (const char* step : {"a", "b", "c", "d", "e"})
    CHECK(digests.count(output_of(show, step)["digest"].get<std::string>()) == 1);
}

TEST_CASE("caching: reruns only what changed", "[integration][run][cache]") {
  TempHome t;
  const auto file = t.write("diamond.yaml", kDiamond);
  run_json(t, {"run", file.string(), "--json"}, 0);

  SECTION("an identical second run is all cached") {
    auto sum = run_json(t, {"run", file.string(), "--json"}, 0);
    CHECK(sum["state"] == "succeeded");
    for (const auto& [step, state] : states(sum)) {
      INFO(step);
      CHECK(state == "cached");
    }
    auto show = show_json(t, sum["run"]);
    CHECK(executions_in(show, "d", "cached") == 1);
    CHECK(executions_in(show, "d", "succeeded") == 0);
    CHECK(read_artifact(output_of(show, "d")["uri"].get<std::string>()) == "A+B/B");
  }
  SECTION("a changed param reruns the affected step and its downstream only") {
    auto sum = run_json(t, {"run", file.string(), "-p", "ta=X", "--json"}, 0);
    auto st = states(sum);
    CHECK(st["a"] == "succeeded");
    CHECK(st["b"] == "cached");
    CHECK(st["c"] == "succeeded");
    CHECK(st["d"] == "succeeded");
    CHECK(st["e"] == "cached");
    auto show = show_json(t, sum["run"]);
    CHECK(show["params"]["ta"] == "X");
    CHECK(read_artifact(output_of(show, "d")["uri"].get<std::string>()) == "X+B/B");
  }
  SECTION("--no-cache reruns everything") {
    auto sum = run_json(t, {"run", file.string(), "--no-cache", "--json"}, 0);
    for (const auto& [step, state] : states(sum)) {
      INFO(step);
      CHECK(state == "succeeded");
    }
  }
}

TEST_CASE("caching: a step with cache: false always runs", "[integration][run][cache]") {
  TempHome t;
  const auto file = t.write("p.yaml", R"(apiVersion: llmops/v1
kind: Pipeline
name: nocache
steps:
  fresh:
    uses: testing/write
    cache: false
    with: {text: same}
  kept:
    uses: testing/write
    with: {text: kept}
)");
  run_json(t, {"run", file.string(), "--json"}, 0);
  auto sum = run_json(t, {"run", file.string(), "--json"}, 0);
  auto st = states(sum);
  CHECK(st["fresh"] == "succeeded");
  CHECK(st["kept"] == "cached");
  auto show = show_json(t, sum["run"]);
  CHECK(executions_in(show, "fresh", "succeeded") == 1);
  CHECK(executions_in(show, "kept", "cached") == 1);
}

TEST_CASE("retries: a flaky step succeeds on its third attempt", "[integration][run][retries]") {
  TempHome t;
  const auto file = t.write("p.yaml", R"(apiVersion: llmops/v1
kind: Pipeline
name: flaky
steps:
  flaky:
    uses: testing/fail
    with: {times: 2, message: not yet}
    retries: {max: 2, initial: 50ms, factor: 1, jitter: false}
  after:
    uses: testing/noop
    needs: [flaky]
)");
  auto sum = run_json(t, {"run", file.string(), "--json"}, 0);
  CHECK(sum["state"] == "succeeded");
  auto show = show_json(t, sum["run"]);
  auto flaky = step_of(show, "flaky");
  CHECK(flaky["state"] == "succeeded");
  CHECK(flaky["attempts"] == 3);
  REQUIRE(flaky["executions"].size() == 3);
  CHECK(flaky["executions"][0]["state"] == "failed");
  CHECK(flaky["executions"][0]["attempt"] == 1);
  CHECK(flaky["executions"][0]["error"].get<std::string>().find("not yet") != std::string::npos);
  CHECK(flaky["executions"][1]["state"] == "failed");
  CHECK(flaky["executions"][2]["state"] == "succeeded");
  CHECK(flaky["executions"][2]["attempt"] == 3);
  CHECK(step_of(show, "after")["state"] == "succeeded");

  // The plugin's log lines are kept per step.
  auto logs = run_cli(t, {"logs", std::to_string(sum["run"].get<int64_t>()), "flaky"});
  CHECK(logs.exit_code == 0);
  CHECK(logs.out.find("not yet (attempt 1)") != std::string::npos);
  CHECK(logs.out.find("not yet (attempt 2)") != std::string::npos);
  CHECK(logs.out.find("succeeded on attempt 3") != std::string::npos);
  auto unknown = run_cli(t, {"logs", std::to_string(sum["run"].get<int64_t>()), "nosuch"});
  CHECK(unknown.exit_code != 0);
  CHECK(unknown.err.find("nosuch") != std::string::npos);
}

TEST_CASE("failures skip downstream steps, independent branches still run",
          "[integration][run][retries]") {
  TempHome t;
  const auto file = t.write("p.yaml", R"(apiVersion: llmops/v1
kind: Pipeline
name: failing
steps:
  flaky:
    uses: testing/fail
    with: {times: 2, message: still broken}
    retries: {max: 1, initial: 50ms, jitter: false}
  downstream:
    uses: testing/noop
    needs: [flaky]
  independent:
    uses: testing/write
    with: {text: fine}
)");
  auto sum = run_json(t, {"run", file.string(), "--json"}, 1);
  CHECK(sum["state"] == "failed");
  auto st = states(sum);
  CHECK(st["flaky"] == "failed");
  CHECK(st["downstream"] == "skipped");
  CHECK(st["independent"] == "succeeded");

  auto show = show_json(t, sum["run"]);
  CHECK(show["state"] == "failed");
  CHECK(step_of(show, "flaky")["state"] == "failed");
  CHECK(executions_in(show, "flaky", "failed") == 2);
  auto down = step_of(show, "downstream");
  CHECK(down["state"] == "skipped");
  CHECK(down["reason"].get<std::string>().find("flaky") != std::string::npos);
  CHECK(down["executions"].empty());
  CHECK(step_of(show, "independent")["state"] == "succeeded");

  // Without --json the summary names the way to resume.
  auto text = run_cli(t, {"run", file.string()});
  CHECK(text.exit_code == 1);
  CHECK(text.out.find("llmops resume") != std::string::npos);
}

TEST_CASE("fail-fast: a failure cancels the other running steps", "[integration][run][retries]") {
  TempHome t;
  const auto file = t.write("p.yaml", R"(apiVersion: llmops/v1
kind: Pipeline
name: failfast
steps:
  broken:
    uses: testing/fail
  slow:
    uses: testing/sleep
    with: {seconds: 30}
  later:
    uses: testing/noop
    needs: [slow]
)");
  const auto pid = spawn_cli(
      t, {"run", file.string(), "--fail-fast", "--max-parallel", "4", "--json"}, "failfast");
  bool timed_out = false;
  auto r = wait_cli_for(t, pid, "failfast", 20, &timed_out);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE_FALSE(timed_out);
  CHECK(r.exit_code == 1);
  auto sum = r.json();
  auto st = states(sum);
  CHECK(st["broken"] == "failed");
  CHECK(st["slow"] == "cancelled");
  CHECK(st["later"] != "succeeded");
  auto show = show_json(t, sum["run"]);
  CHECK(step_of(show, "slow")["state"] == "cancelled");
}

TEST_CASE("timeouts stop a long step", "[integration][run][timeout]") {
  TempHome t;
  const auto file = t.write("p.yaml", R"(apiVersion: llmops/v1
kind: Pipeline
name: timeout
steps:
  nap:
    uses: testing/sleep
    with: {seconds: 30}
    timeout: 1s
)");
  const auto pid = spawn_cli(t, {"run", file.string()}, "timeout");
  bool timed_out = false;
  auto r = wait_cli_for(t, pid, "timeout", 20, &timed_out);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE_FALSE(timed_out);  // well before the 30 s the step asked for
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("timed out") != std::string::npos);

  auto show = show_json(t, 1);
  REQUIRE(show.is_object());
  CHECK(show["state"] == "failed");
}

// Known bug (reported to the lead): the store records a timed-out step as `cancelled` with the
// plugin's "sleep cancelled", so `show` neither says "failed" nor why. `run --json` says failed.
TEST_CASE("a timed-out step is recorded as failed, with the timeout as the reason",
          "[integration][run][timeout]") {
  TempHome t;
  const auto file = t.write("p.yaml", R"(apiVersion: llmops/v1
kind: Pipeline
name: timeout
steps:
  nap:
    uses: testing/sleep
    with: {seconds: 30}
    timeout: 1s
)");
  const auto pid = spawn_cli(t, {"run", file.string(), "--json"}, "timeout");
  bool timed_out = false;
  auto r = wait_cli_for(t, pid, "timeout", 20, &timed_out);
  REQUIRE_FALSE(timed_out);
  CHECK(r.exit_code == 1);
  CHECK(r.json()["steps"]["nap"] == "failed");
  auto show = show_json(t, 1);
  auto nap = step_of(show, "nap");
  CHECK(nap["state"] == "failed");
  CHECK(nap["reason"].get<std::string>().find("timed out") != std::string::npos);
  CHECK(nap["executions"].back()["state"] == "failed");
  CHECK(nap["executions"].back()["error"].get<std::string>().find("timed out") !=
        std::string::npos);
  auto logs = run_cli(t, {"logs", "1", "nap"});
  CHECK(logs.out.find("timed out") != std::string::npos);
}

TEST_CASE("when: false skips a step and says why", "[integration][run][when]") {
  TempHome t;
  const auto file = t.write("p.yaml", R"(apiVersion: llmops/v1
kind: Pipeline
name: conditional
params:
  go: {type: string, default: "no"}
steps:
  first:
    uses: testing/write
    with: {text: hi}
  gated:
    uses: testing/noop
    needs: [first]
    when: "params.go == 'yes'"
  after:
    uses: testing/noop
    needs: [gated]
)");
  auto sum = run_json(t, {"run", file.string(), "--json"}, 0);
  auto st = states(sum);
  CHECK(st["first"] == "succeeded");
  CHECK(st["gated"] == "skipped");
  auto show = show_json(t, sum["run"]);
  auto gated = step_of(show, "gated");
  CHECK(gated["state"] == "skipped");
  CHECK(gated["reason"].get<std::string>().find("params.go == 'yes'") != std::string::npos);
  CHECK(gated["reason"].get<std::string>().find("false") != std::string::npos);
  CHECK(gated["executions"].empty());
  CHECK(step_of(show, "after")["state"] == "skipped");

  auto yes = run_json(t, {"run", file.string(), "-p", "go=yes", "--json"}, 0);
  CHECK(states(yes)["gated"] == "succeeded");
  // `after` may reuse `gated`'s result: both are noop with the same (empty) params and inputs.
  CHECK((states(yes)["after"] == "succeeded" || states(yes)["after"] == "cached"));
}
