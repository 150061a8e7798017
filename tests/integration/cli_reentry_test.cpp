// Feedback into another pipeline (a monitoring pipeline re-enters a training pipeline) and the
// `${{ deployments.NAME.model }}` input reference, with the test plugins.
#include <catch2/catch.hpp>

#include "cli_harness.hpp"

using namespace llmops::testing;

namespace {

const char* kTrain = R"(apiVersion: llmops/v1
kind: Pipeline
name: train
params:
  tag: {type: string, default: a}
steps:
  data: {uses: testing/write, with: {text: "base ${{ params.tag }}\n"}}
  curate:
    uses: testing/concat
    with: {separator: "|"}
    inputs: {data: "${{ steps.data.outputs.out }}"}
)";

const char* kWatch = R"(apiVersion: llmops/v1
kind: Pipeline
name: watch
steps:
  monitor:
    uses: testing/trigger
    cache: false
    with: {reason: "PSI 0.5 > 0.2"}
feedback:
  - on: drift
    reenter: {pipeline: train.yaml, step: curate}
    with: {production: "${{ steps.monitor.outputs.report }}"}
)";

const char* kEval = R"(apiVersion: llmops/v1
kind: Pipeline
name: ev
params:
  v: {type: int, default: 1}
steps:
  model: {uses: testing/write, with: {text: "model ${{ params.v }}\n"}}
  evaluate:
    uses: testing/concat
    with: {separator: "|"}
    inputs:
      candidate: "${{ steps.model.outputs.out }}"
      baseline: "${{ deployments.assistant.model }}"
)";

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

// "FILE:LINE:COL: error:" of the first line of `text` holding `needle`, at the needle's column.
std::string where(const std::string& file, const std::string& text, const std::string& needle) {
  const auto at = text.find(needle);
  REQUIRE(at != std::string::npos);
  const auto line = 1 + std::count(text.begin(), text.begin() + at, '\n');
  const auto col = at - (text.rfind('\n', at) == std::string::npos ? -1 : text.rfind('\n', at));
  return file + ":" + std::to_string(line) + ":" + std::to_string(col) + ": error:";
}

// Records that deployment `name` serves artifact `digest` (as the runner does for a deployer).
void deploy(const TempHome& t, const std::string& name, const std::string& digest,
            int canary_percent = 0) {
  const std::string info = "{\"canary_percent\":" + std::to_string(canary_percent) + "}";
  sql(db_path(t),
      "INSERT INTO deployments(name, artifact_digest, state, info_json, updated_at) VALUES ('" +
          name + "', '" + digest + "', 'running', '" + info +
          "', 1) ON CONFLICT(name) DO UPDATE SET artifact_digest = excluded.artifact_digest",
      true);
  sql(db_path(t),
      "INSERT INTO deployment_history(deployment, action, artifact_digest, state, info_json, "
      "created_at) VALUES ('" +
          name + "', '" + (canary_percent ? "canary" : "load") + "', '" + digest +
          "', 'running', '" + info + "', 1)",
      true);
}

}  // namespace

TEST_CASE("a monitoring pipeline's trigger re-enters another pipeline",
          "[integration][feedback][reentry]") {
  TempHome t;
  auto train = t.write("pipes/train.yaml", kTrain);
  auto watch = t.write("pipes/watch.yaml", kWatch);
  REQUIRE(run_cli(t, {"run", train.string(), "-p", "tag=b"}).exit_code == 0);  // run 1
  auto r = run_cli(t, {"run", watch.string()});                                // runs 2 and 3
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("re-entering pipeline train at curate (upstream steps from "
                                    "run 1) -> run 3 re-enters pipeline train"));
  auto runs = run_cli(t, {"runs", "--json"}).json();
  REQUIRE(runs.size() == 3);
  const auto& re = runs[0];  // newest first
  CHECK(re["pipeline"] == "train");
  CHECK(re["trigger"] == "feedback");
  CHECK(re["parent_run"] == 2);
  CHECK(re["cycle"] == 1);
  CHECK(re["trigger_info"]["kind"] == "drift");
  CHECK(re["trigger_info"]["reason"] == "PSI 0.5 > 0.2");
  CHECK(re["trigger_info"]["step"] == "monitor");
  CHECK(re["trigger_info"]["pipeline"] == "train");
  CHECK(re["trigger_info"]["triggered_by"] == "watch");
  CHECK(re["trigger_info"]["upstream_run"] == 1);
  auto show = show_json(t, 3);
  // Upstream of curate comes from train's latest successful run (with its parameters)...
  CHECK(step_of(show, "data")["state"] == "cached");
  CHECK(output_of(show, "data")["digest"] == output_of(show_json(t, 1), "data")["digest"]);
  CHECK(show["params"]["tag"] == "b");
  // ...and curate ran again with the monitor's output from the watch run as an extra input.
  CHECK(step_of(show, "curate")["state"] == "succeeded");
  CHECK_THAT(read_artifact(output_of(show, "curate")["uri"].get<std::string>()),
             Catch::Equals("base b\n|{\"fired\":true,\"run\":2}"));
  auto lin = run_cli(t, {"lineage", "3:curate", "--format", "json"}).json();
  std::set<std::string> labels;
  for (const auto& n : lin["nodes"]) labels.insert(n["label"].get<std::string>());
  CHECK(labels.count("run 2: monitor (testing/trigger@1.0.0)"));
  CHECK(labels.count("run 1: data (testing/write@1.0.0)"));
}

TEST_CASE("re-entering a pipeline that never succeeded runs all of it",
          "[integration][feedback][reentry]") {
  TempHome t;
  t.write("pipes/train.yaml", kTrain);
  auto watch = t.write("pipes/watch.yaml", kWatch);
  auto r = run_cli(t, {"run", watch.string()});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("no successful run yet: every step runs"));
  auto show = show_json(t, 2);
  CHECK(show["pipeline"] == "train");
  CHECK(step_of(show, "data")["state"] == "succeeded");
  CHECK(show["params"]["tag"] == "a");  // the defaults
}

TEST_CASE("reenter into an unknown file or step is a validation error at its place",
          "[integration][feedback][reentry]") {
  TempHome t;
  t.write("pipes/train.yaml", kTrain);
  const std::string no_file = replace(kWatch, "train.yaml", "nope.yaml");
  auto f1 = t.write("pipes/w1.yaml", no_file);
  auto r1 = run_cli(t, {"validate", f1.string()});
  CHECK(r1.exit_code == 2);
  CHECK_THAT(r1.err, Catch::Contains(where(f1.string(), no_file, "nope.yaml") +
                                     " feedback: rule 1: reenter.pipeline 'nope.yaml' not found"));
  const std::string no_step = replace(kWatch, "step: curate", "step: curat");
  auto f2 = t.write("pipes/w2.yaml", no_step);
  auto r2 = run_cli(t, {"validate", f2.string()});
  CHECK(r2.exit_code == 2);
  CHECK_THAT(r2.err, Catch::Contains(where(f2.string(), no_step, "curat}") +
                                     " feedback: rule 1: reenter.step 'curat' is not a step of "
                                     "pipeline 'train' (train.yaml); did you mean 'curate'?"));
  // `llmops run` refuses it too, before recording anything.
  CHECK(run_cli(t, {"run", f2.string()}).exit_code == 2);
  CHECK_FALSE(fs::exists(db_path(t)));
}

TEST_CASE("deployments.NAME.model is the deployed model, or absent", "[integration][deployments]") {
  TempHome t;
  auto file = t.write("ev.yaml", kEval);
  // Nothing deployed: the input is simply absent.
  REQUIRE(run_cli(t, {"run", file.string()}).exit_code == 0);
  auto first = show_json(t, 1);
  const auto ex1 = step_of(first, "evaluate")["executions"].back();
  CHECK_FALSE(ex1["inputs"].contains("baseline"));
  CHECK(read_artifact(ex1["outputs"]["out"]["uri"].get<std::string>()) == "model 1\n");
  const auto v1 = output_of(first, "model")["digest"].get<std::string>();

  // v1 deployed; then a canary of something else does not change what is deployed.
  deploy(t, "assistant", v1);
  REQUIRE(run_cli(t, {"run", file.string(), "-p", "v=9"}).exit_code == 0);  // run 2
  deploy(t, "assistant", output_of(show_json(t, 2), "model")["digest"].get<std::string>(), 10);
  REQUIRE(run_cli(t, {"run", file.string(), "-p", "v=2"}).exit_code == 0);  // run 3
  auto third = show_json(t, 3);
  const auto ex3 = step_of(third, "evaluate")["executions"].back();
  REQUIRE(ex3["inputs"].contains("baseline"));
  CHECK(ex3["inputs"]["baseline"]["digest"] == v1);
  CHECK(read_artifact(ex3["outputs"]["out"]["uri"].get<std::string>()) == "model 1\n|model 2\n");
  // A normal input event: lineage of the evaluation reaches the run that made the baseline.
  auto lin = run_cli(t, {"lineage", "3:evaluate", "--format", "json"}).json();
  bool reaches_v1 = false;
  for (const auto& n : lin["nodes"])
    reaches_v1 = reaches_v1 || n["label"] == "run 1: model (testing/write@1.0.0)";
  CHECK(reaches_v1);
}

TEST_CASE("deployments references are checked by validate", "[integration][deployments]") {
  TempHome t;
  const std::string in_with =
      replace(kEval, "separator: \"|\"}", "separator: \"${{ deployments.assistant.model }}\"}");
  auto f1 = t.write("a.yaml", in_with);
  auto r1 = run_cli(t, {"validate", f1.string()});
  CHECK(r1.exit_code == 2);
  CHECK_THAT(r1.err, Catch::Contains("a deployments reference may only be the whole value of an "
                                     "input"));
  const std::string bad_field =
      replace(kEval, "deployments.assistant.model", "deployments.assistant.weights");
  auto f2 = t.write("b.yaml", bad_field);
  auto r2 = run_cli(t, {"validate", f2.string()});
  CHECK(r2.exit_code == 2);
  CHECK_THAT(r2.err, Catch::Contains(where(f2.string(), bad_field, "\"${{ deployments") +
                                     " unknown deployments reference "
                                     "'deployments.assistant.weights'"));
  const std::string partial = replace(kEval, "\"${{ deployments.assistant.model }}\"",
                                      "\"x/${{ deployments.assistant.model }}\"");
  auto f3 = t.write("c.yaml", partial);
  CHECK_THAT(run_cli(t, {"validate", f3.string()}).err,
             Catch::Contains("must be the whole value of the input"));
  auto ok = t.write("d.yaml", kEval);
  CHECK(run_cli(t, {"validate", ok.string()}).exit_code == 0);
}
