// The feedback loop: a trigger raised by a step starts a run that re-enters the pipeline.
#include <catch2/catch.hpp>

#include "cli_harness.hpp"

using namespace llmops::testing;

namespace {

const char* kLoop = R"(apiVersion: llmops/v1
kind: Pipeline
name: loop
params:
  always: {type: bool, default: false}
steps:
  data: {uses: testing/write, with: {text: "base data\n"}}
  curate:
    uses: testing/concat
    with: {separator: "|"}
    inputs: {data: "${{ steps.data.outputs.out }}"}
  monitor:
    uses: testing/trigger
    needs: [curate]
    cache: false
    with: {fire: "${{ params.always || run.cycle < 1 }}", reason: "PSI 0.41 > 0.2"}
feedback:
  - on: drift
    reenter: curate
    with: {production: "${{ steps.monitor.outputs.report }}"}
    max_cycles: 2
)";

}  // namespace

TEST_CASE("a trigger re-enters the pipeline once, then the loop ends", "[integration][feedback]") {
  TempHome t;
  auto file = t.write("loop.yaml", kLoop);
  auto r = run_cli(t, {"run", file.string()});
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("re-enters the pipeline"));
  auto runs = run_cli(t, {"runs", "--json"}).json();
  REQUIRE(runs.size() == 2);
  // Newest first.
  CHECK(runs[0]["trigger"] == "feedback");
  CHECK(runs[0]["parent_run"] == 1);
  CHECK(runs[0]["cycle"] == 1);
  CHECK(runs[0]["trigger_info"]["kind"] == "drift");
  CHECK(runs[0]["trigger_info"]["reason"] == "PSI 0.41 > 0.2");
  CHECK(runs[0]["trigger_info"]["step"] == "monitor");
  auto show = run_cli(t, {"show", "2", "--json"}).json();
  std::map<std::string, nlohmann::json> steps;
  for (const auto& s : show["steps"]) steps[s["step"]] = s;
  // Upstream of the re-entered step is taken from run 1, not redone.
  CHECK(steps["data"]["state"] == "cached");
  CHECK(steps["curate"]["state"] == "succeeded");
  const auto& cur = steps["curate"]["executions"].back();
  CHECK(cur["inputs"].contains("production"));
  // The re-entered step saw the production data: base data, then run 1's monitor report.
  CHECK_THAT(read_artifact(cur["outputs"]["out"]["uri"]),
             Catch::StartsWith("base data\n|{\"fired\":true,\"run\":1}"));
  // Lineage of cycle 2's dataset walks back into cycle 1's monitor.
  auto lin = run_cli(t, {"lineage", "2:curate", "--format", "json"}).json();
  bool reaches_run1_monitor = false;
  for (const auto& n : lin["nodes"])
    if (n["label"].get<std::string>().find("run 1: monitor") != std::string::npos)
      reaches_run1_monitor = true;
  CHECK(reaches_run1_monitor);
}

TEST_CASE("max_cycles stops a loop that would go on forever", "[integration][feedback]") {
  TempHome t;
  auto file = t.write("loop.yaml", kLoop);
  auto r = run_cli(t, {"run", file.string(), "-p", "always=true"});
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("max_cycles (2) is reached"));
  auto runs = run_cli(t, {"runs", "--json"}).json();
  REQUIRE(runs.size() == 3);
  CHECK(runs[0]["cycle"] == 2);
  CHECK(runs[0]["parent_run"] == 2);
}

TEST_CASE("a bad feedback block is a validation error", "[integration][feedback]") {
  TempHome t;
  std::string bad = kLoop;
  bad.replace(bad.find("reenter: curate"), 15, "reenter: nowhere");
  auto file = t.write("bad.yaml", bad);
  auto r = run_cli(t, {"validate", file.string()});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("reenter names no step of this pipeline: 'nowhere'"));
}
