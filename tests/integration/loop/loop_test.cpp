// A miniature of the whole loop with the real plugins: synthetic data -> curator/jsonl -> a tiny
// model trained from scratch -> evaluator/lm (against the deployed model from the second cycle)
// -> deployer/http on a free port -> monitor/drift replaying shifted traffic -> feedback re-enters
// curation -> v2 ... until max_cycles stops a monitor that always fires. Seconds on two idle cores
// (bounded at 10 minutes); ctest label `integration`.
#include <signal.h>

#include <catch2/catch.hpp>

#include "../cli_harness.hpp"

using namespace llmops::testing;

namespace {

// task-assistant.yaml in miniature. `psi: -1` makes the monitor raise drift on any traffic, so
// without max_cycles the loop would never end.
const char* kMini = R"(apiVersion: llmops/v1
kind: Pipeline
name: mini
steps:
  production:
    uses: curator/synthetic-tasks
    with: {count: 40, seed: 1001, scenario: production-shift}
  drifted:
    uses: curator/synthetic-tasks
    with: {count: 6, seed: 2002, scenario: production-shift}
  synthesize:
    uses: curator/synthetic-tasks
    with: {count: 160, seed: 7, scenario: base}
  curate:
    uses: curator/jsonl
    inputs: {data: "${{ steps.synthesize.outputs.dataset }}"}
  train:
    uses: trainer/torch-lm
    inputs: {train: "${{ steps.curate.outputs.train }}", eval: "${{ steps.curate.outputs.eval }}"}
    with: {mode: scratch, hidden: 32, layers: 1, heads: 2, vocab: 300, max_seq: 256, seq_len: 64,
           batch_size: 4, steps: 12, eval_every: 12, eval_batches: 2, checkpoint_every: 1000,
           seed: 1, threads: 2}
  evaluate:
    uses: evaluator/lm
    inputs:
      model: "${{ steps.train.outputs.model }}"
      dataset: "${{ steps.curate.outputs.eval }}"
      suites: "${{ steps.drifted.outputs.dataset }}"
      baseline: "${{ deployments.mini.model }}"
    with:
      max_samples: 4
      max_new_tokens: 8
      safety_suite: false
      suite_name: drifted
      gates: ["loss >= 0", {drifted.loss: {min_delta: -1000}}]
  deploy:
    uses: deployer/http
    when: "${{ steps.evaluate.outputs.blessing.blessed }}"
    inputs: {model: "${{ steps.train.outputs.model }}"}
    with: {name: mini, port: 0, max_tokens: 16}
  monitor:
    uses: monitor/drift
    inputs:
      deployment: "${{ steps.deploy.outputs.deployment }}"
      reference: "${{ steps.curate.outputs.train }}"
      replay: "${{ steps.production.outputs.dataset }}"
      corrections: "${{ steps.production.outputs.dataset }}"
    with: {replay_limit: 12, replay_max_tokens: 8, min_requests: 5, psi: -1}
feedback:
  - on: drift
    reenter: curate
    with: {production: "${{ steps.monitor.outputs.production }}"}
    max_cycles: 1
)";

// A monitoring pipeline beside it, as pipelines/monitor-task-assistant.yaml is beside
// task-assistant.yaml: it finds what to watch through the deployment, and re-enters mini.yaml.
const char* kWatch = R"(apiVersion: llmops/v1
kind: Pipeline
name: watch-mini
steps:
  traffic:
    uses: curator/synthetic-tasks
    with: {count: 40, seed: 1001, scenario: production-shift}
  monitor:
    uses: monitor/drift
    inputs:
      deployment: "${{ deployments.mini.deployment }}"
      reference: "${{ deployments.mini.model_inputs.train }}"
      replay: "${{ steps.traffic.outputs.dataset }}"
      corrections: "${{ steps.traffic.outputs.dataset }}"
    with: {replay_limit: 12, replay_max_tokens: 8, min_requests: 5, psi: -1}
feedback:
  - on: drift
    reenter: {pipeline: mini.yaml, step: curate}
    with: {production: "${{ steps.monitor.outputs.production }}"}
)";

// Stops deployment `name` of the test's home when the test ends, however it ends.
struct StopServer {
  const TempHome& t;
  std::string name;
  ~StopServer() { run_cli(t, {"deployments", "stop", name}); }
};

bool alive(int64_t pid) {
  return pid > 0 && ::kill(static_cast<pid_t>(pid), 0) == 0;
}

// The `(digest, role)` input events of step `step`'s last good execution in run `run`.
std::map<std::string, std::string> inputs_of(const TempHome& t, int64_t run,
                                             const std::string& step) {
  std::map<std::string, std::string> out;
  auto ex = step_of(show_json(t, run), step);
  if (ex.is_null()) return out;
  for (const auto& e : ex["executions"])
    if (e["state"] == "succeeded" || e["state"] == "cached")
      for (const auto& [role, a] : e["inputs"].items()) out[role] = a["digest"].get<std::string>();
  return out;
}

}  // namespace

TEST_CASE("the whole loop in miniature: two cycles, v2 deployed, lineage to both datasets",
          "[integration][loop]") {
  TempHome t;
  auto file = t.write("mini.yaml", kMini);
  StopServer stop{t, "mini"};
  bool timed_out = false;
  const auto pid = spawn_cli(t, {"run", file.string()}, "loop");
  auto r = wait_cli_for(t, pid, "loop", 600, &timed_out);
  INFO(r.out << r.err);
  REQUIRE_FALSE(timed_out);
  REQUIRE(r.exit_code == 0);

  // Two cycles ran, and max_cycles ended a loop whose monitor always fires.
  auto runs = run_cli(t, {"runs", "--json"}).json();
  REQUIRE(runs.size() == 2);
  CHECK(runs[1]["trigger"] == "manual");
  CHECK(runs[0]["trigger"] == "feedback");
  CHECK(runs[0]["parent_run"] == 1);
  CHECK(runs[0]["cycle"] == 1);
  CHECK(runs[0]["state"] == "succeeded");
  CHECK_THAT(r.out, Catch::Contains("max_cycles (1) is reached: the loop stops here"));
  CHECK_THAT(r.out, Catch::Contains("cycles: run 1 (succeeded) -> run 2 (succeeded)"));

  // The trigger is recorded with its reason.
  const auto& info = runs[0]["trigger_info"];
  CHECK(info["kind"] == "drift");
  CHECK(info["step"] == "monitor");
  CHECK(info["reenter"] == "curate");
  CHECK_THAT(info["reason"].get<std::string>(), Catch::Contains("unigram PSI"));
  CHECK(info["payload"]["requests"].get<int>() >= 5);

  // Upstream of curate is taken from cycle 1; curate ran again on the production data.
  auto show2 = show_json(t, 2);
  CHECK(step_of(show2, "synthesize")["state"] == "cached");
  for (const char* s : {"curate", "train", "evaluate", "deploy", "monitor"})
    CHECK(step_of(show2, s)["state"] == "succeeded");
  const auto prod =
      output_of(show_json(t, 1), "monitor", "production")["digest"].get<std::string>();
  CHECK(inputs_of(t, 2, "curate")["production"] == prod);

  // The evaluator compared v2 with the deployed v1; v1 had nothing to compare with.
  const auto v1 = output_of(show_json(t, 1), "train", "model")["digest"].get<std::string>();
  const auto v2 = output_of(show2, "train", "model")["digest"].get<std::string>();
  CHECK(v1 != v2);
  CHECK(inputs_of(t, 1, "evaluate").count("baseline") == 0);
  CHECK(inputs_of(t, 2, "evaluate")["baseline"] == v1);

  // v2 is the deployed version.
  auto dep = sql(db_path(t), "SELECT artifact_digest, run_id FROM deployments WHERE name = 'mini'");
  REQUIRE(dep.size() == 1);
  CHECK(dep[0][0] == v2);
  CHECK(dep[0][1] == "2");
  const auto deployment = output_of(show2, "deploy", "deployment");
  CHECK(deployment["metadata"]["model_digest"] == v2);
  CHECK(deployment["metadata"]["started"] == false);  // loaded into the running server

  // Lineage of the deployment walks back through both cycles to both datasets.
  auto lin = run_cli(t, {"lineage", "2:deploy", "--format", "json"}).json();
  std::set<std::string> labels;
  for (const auto& n : lin["nodes"]) labels.insert(n["label"].get<std::string>());
  auto has = [&](const std::string& needle) {
    for (const auto& l : labels)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  };
  CHECK(has("run 2: curate"));
  CHECK(has("run 1: monitor"));     // the production dataset came from cycle 1's monitor
  CHECK(has("run 1: synthesize"));  // the base data set, made in cycle 1
  CHECK(has("run 1: production"));  // the shifted traffic and its corrections
  CHECK(has("dataset/production"));
  CHECK(has("dataset/dataset"));

  // The summary says where it serves and how to see the lineage.
  CHECK_THAT(r.out, Catch::Contains("serving mini at http://127.0.0.1:"));
  CHECK_THAT(r.out, Catch::Contains("lineage: llmops lineage 2:deploy"));

  // Stopping the server leaves nothing running.
  const int64_t server_pid = deployment["metadata"]["pid"].get<int64_t>();
  CHECK(alive(server_pid));
  CHECK(run_cli(t, {"deployments", "stop", "mini"}).exit_code == 0);
  CHECK(wait_until([&] { return !alive(server_pid); }, 30));
}

TEST_CASE("a monitoring pipeline watches the deployment and re-enters the training pipeline",
          "[integration][loop]") {
  TempHome t;
  auto mini = t.write("pipes/mini.yaml", kMini);
  auto watch = t.write("pipes/watch.yaml", kWatch);
  StopServer stop{t, "mini"};
  // Nothing deployed yet: nothing to monitor, no trigger.
  auto r1 = run_cli(t, {"run", watch.string()});  // run 1
  INFO(r1.out << r1.err);
  REQUIRE(r1.exit_code == 0);
  CHECK(step_of(show_json(t, 1), "monitor")["state"] == "succeeded");
  CHECK(inputs_of(t, 1, "monitor").count("deployment") == 0);
  CHECK(run_cli(t, {"runs", "--json"}).json().size() == 1);

  bool timed_out = false;
  auto r2 = wait_cli_for(t, spawn_cli(t, {"run", mini.string()}, "mini"), "mini", 600, &timed_out);
  REQUIRE_FALSE(timed_out);
  REQUIRE(r2.exit_code == 0);  // runs 2 and 3: v2 deployed
  auto show3 = show_json(t, 3);
  const auto v2 = output_of(show3, "train", "model")["digest"].get<std::string>();

  auto r3 = wait_cli_for(t, spawn_cli(t, {"run", watch.string()}, "watch"), "watch", 600,
                         &timed_out);  // runs 4 and 5
  INFO(r3.out << r3.err);
  REQUIRE_FALSE(timed_out);
  REQUIRE(r3.exit_code == 0);
  // The monitor watched what serves now and compared it with what that model learned from.
  const auto mon = inputs_of(t, 4, "monitor");
  CHECK(mon.at("deployment") == output_of(show3, "deploy", "deployment")["digest"]);
  CHECK(mon.at("reference") == output_of(show3, "curate", "train")["digest"]);
  // Its drift re-entered mini at curate, upstream from mini's latest successful run (3).
  CHECK_THAT(r3.out, Catch::Contains("re-entering pipeline mini at curate (upstream steps from "
                                     "run 3) -> run 5 re-enters pipeline mini"));
  auto runs = run_cli(t, {"runs", "--json"}).json();
  REQUIRE(runs.size() == 5);
  CHECK(runs[0]["pipeline"] == "mini");
  CHECK(runs[0]["parent_run"] == 4);
  CHECK(runs[0]["cycle"] == 1);
  CHECK(runs[0]["trigger_info"]["upstream_run"] == 3);
  auto show5 = show_json(t, 5);
  CHECK(step_of(show5, "synthesize")["state"] == "cached");
  CHECK(inputs_of(t, 5, "curate").at("production") ==
        output_of(show_json(t, 4), "monitor", "production")["digest"]);
  CHECK(inputs_of(t, 5, "evaluate").at("baseline") == v2);
  CHECK(step_of(show5, "deploy")["state"] == "succeeded");
  // mini's own rule ends the chain.
  CHECK_THAT(r3.out, Catch::Contains("max_cycles (1) is reached"));
}

TEST_CASE("the shipped pipelines validate with the real plugins", "[integration][loop]") {
  TempHome t;
  const fs::path dir = fs::path(LLMOPS_SOURCE_DIR) / "pipelines";
  for (const char* f : {"task-assistant.yaml", "monitor-task-assistant.yaml"}) {
    auto r = run_cli(t, {"validate", (dir / f).string()});
    INFO(f << ": " << r.err);
    CHECK(r.exit_code == 0);
  }
  // A deployments reference may be absent, so it cannot feed a required input.
  std::string bad = kMini;
  bad.replace(bad.find("model: \"${{ steps.train.outputs.model }}\"\n      dataset"),
              std::string("model: \"${{ steps.train.outputs.model }}\"").size(),
              "model: \"${{ deployments.mini.model }}\"");
  auto f = t.write("bad.yaml", bad);
  auto r = run_cli(t, {"validate", f.string()});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err,
             Catch::Contains("input 'model' of step 'evaluate' is required by evaluator/lm"));
}
