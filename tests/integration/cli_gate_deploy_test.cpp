// Integration, end to end with real models: the evaluator's gates, not a person, decide whether a
// model is served. One pipeline generates task-assistant data (curator/synthetic-tasks), keeps a
// narrow, easy task (curator/jsonl: conversations that call list_tasks, whose arguments come
// from a small closed set: status, label, due date), trains a tiny Llama from scratch
// (trainer/torch-lm), evaluates it on the held-out split (evaluator/lm, gates
// `tool_call_valid >= 0.8` and `exact_match >= 0.4`) and deploys it (deployer/http) only
// `when: ${{ steps.evaluate.outputs.blessing.blessed }}`.
//
// Run 1 trains for 5 optimizer steps: the weak model misses its gates and is not deployed (the
// skip and its reason are in `llmops show --json`). Run 2 trains the same model for 500 steps
// (about 0.6 exact match on the held-out split): it is blessed, deployed, answers over HTTP, and
// is stopped with `llmops deployments stop`. About 40 s on two idle cores; the trainer and the
// evaluator use one thread each. Built only with libtorch (ctest label `integration`).
#include <catch2/catch.hpp>

#include "cli_harness.hpp"
#include "deploy.hpp"
#include "plugins/common/http_client.hpp"

using namespace llmops::testing;
using nlohmann::json;

namespace {

constexpr char kPipeline[] = R"(apiVersion: llmops/v1
kind: Pipeline
name: gate-deploy
params:
  train_steps: {type: int, default: 500}
steps:
  synthesize:
    uses: curator/synthetic-tasks
    with:
      count: 4000
      seed: 11
      system_prompt: false
      multi_turn_rate: 0
      typo_rate: 0
      dirt: {exact_duplicate: 0, near_duplicate: 0, pii: 0, malformed_json: 0, invalid_utf8: 0,
             empty_turn: 0, wrong_order: 0, overlong: 0, off_topic: 0}
  curate:
    uses: curator/jsonl
    inputs:
      data: ${{ steps.synthesize.outputs.dataset }}
    with: {topic_keywords: [list_tasks], eval_fraction: 0.1}
  train:
    uses: trainer/torch-lm
    inputs:
      train: ${{ steps.curate.outputs.train }}
      eval: ${{ steps.curate.outputs.eval }}
    with: {mode: scratch, hidden: 64, layers: 2, heads: 4, vocab: 512, seq_len: 128,
           batch_size: 8, steps: "${{ params.train_steps }}", lr: 0.01, seed: 7, threads: 1}
  evaluate:
    uses: evaluator/lm
    inputs:
      model: ${{ steps.train.outputs.model }}
      dataset: ${{ steps.curate.outputs.eval }}
    with:
      max_new_tokens: 48
      safety_suite: false
      gates: ["tool_call_valid >= 0.8", "exact_match >= 0.4"]
  deploy:
    uses: deployer/http
    when: ${{ steps.evaluate.outputs.blessing.blessed }}
    inputs:
      model: ${{ steps.train.outputs.model }}
    with: {name: gate-assistant, port: 0, wait_seconds: 120}
)";

// One thread per process and a passive OpenMP wait: on a busy machine libgomp's spinning
// otherwise makes the evaluator and the server crawl (docs/trainer.md, Performance).
const std::vector<std::string> kEnv = {"OMP_NUM_THREADS=1", "OMP_WAIT_POLICY=passive"};

// Stops every deployment left in the test's home, whatever failed on the way.
struct StopDeployments {
  const TempHome& t;
  ~StopDeployments() {
    const char* old = std::getenv("LLMOPS_HOME");
    const std::string saved = old ? old : "";
    ::setenv("LLMOPS_HOME", t.home().c_str(), 1);
    for (const auto& st : llmops::serve::list_deployments())
      (void)llmops::serve::stop_deployment(st.value("name", ""), 10);
    if (old)
      ::setenv("LLMOPS_HOME", saved.c_str(), 1);
    else
      ::unsetenv("LLMOPS_HOME");
  }
};

json run_pipeline(const TempHome& t, const fs::path& file, int steps) {
  static int n = 0;
  const std::string tag = "gate-run" + std::to_string(n++);
  auto pid = spawn_cli(
      t, {"run", file.string(), "-p", "train_steps=" + std::to_string(steps), "--json"}, tag, kEnv);
  bool timed_out = false;
  auto r = wait_cli_for(t, pid, tag, 600, &timed_out);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE_FALSE(timed_out);
  REQUIRE(r.exit_code == 0);
  auto j = json::parse(r.out, nullptr, false);
  REQUIRE(j.is_object());
  return j;
}

json blessing_of(const json& show) {
  auto b = output_of(show, "evaluate", "blessing");
  REQUIRE(b.is_object());
  return json::parse(slurp(fs::path(b["uri"].get<std::string>()) / "blessing.json"));
}

// The evaluate step's metrics, for messages when a gate surprises.
std::string eval_metrics(const json& show) {
  auto s = step_of(show, "evaluate");
  if (s.is_null() || s["executions"].empty()) return "(no evaluate execution)";
  std::string out;
  for (const auto& [k, v] : s["executions"].back()["metrics"].items())
    out += k + "=" + v.back()["value"].dump() + " ";
  return out;
}

}  // namespace

TEST_CASE("a weakly trained model is not deployed, a well trained one is and answers",
          "[integration][gates][deploy]") {
  TempHome t;
  StopDeployments cleanup{t};
  const auto file = t.write("gate-deploy.yaml", kPipeline);

  // Run 1: five optimizer steps. The evaluation runs, its gates fail, the deploy step is skipped.
  auto weak = run_pipeline(t, file, 5);
  CHECK(weak["steps"]["train"] == "succeeded");
  CHECK(weak["steps"]["evaluate"] == "succeeded");  // a failing gate does not fail the step
  CHECK(weak["steps"]["deploy"] == "skipped");
  auto show = show_json(t, weak["run"]);
  REQUIRE(show.is_object());
  INFO("weak model: " << eval_metrics(show));
  auto deploy = step_of(show, "deploy");
  CHECK(deploy["state"] == "skipped");
  CHECK(deploy["reason"].get<std::string>().find("blessing.blessed") != std::string::npos);
  CHECK(deploy["executions"].empty());
  auto bj = blessing_of(show);
  CHECK(bj["blessed"] == false);
  REQUIRE(bj["gates"].size() == 2);
  CHECK(bj["gates"][1]["metric"] == "exact_match");
  CHECK(bj["gates"][1]["verdict"] == "fail");
  auto list = run_cli(t, {"deployments", "list", "--json"});
  REQUIRE(list.exit_code == 0);
  CHECK(json::parse(list.out).empty());  // no server was started

  // Run 2: the same pipeline trained long enough. Data and curation come from the cache.
  auto good = run_pipeline(t, file, 500);
  CHECK(good["steps"]["synthesize"] == "cached");
  CHECK(good["steps"]["curate"] == "cached");
  show = show_json(t, good["run"]);
  REQUIRE(show.is_object());
  INFO("good model: " << eval_metrics(show));
  bj = blessing_of(show);
  CHECK(bj["blessed"] == true);
  for (const auto& g : bj["gates"]) CHECK(g["verdict"] == "pass");
  REQUIRE(good["steps"]["deploy"] == "succeeded");
  auto dep = output_of(show, "deploy", "deployment");
  REQUIRE(dep.is_object());
  auto dj = json::parse(slurp(fs::path(dep["uri"].get<std::string>()) / "deployment.json"));
  CHECK(dj["name"] == "gate-assistant");
  const int pid = dj["pid"];
  const auto port = static_cast<uint16_t>(dj["port"].get<int>());

  // The server answers a request of the trained kind with the trained tool call.
  const std::string body = json{
      {"model", "gate-assistant"},
      {"messages", {{{"role", "user"}, {"content", "which tasks have I finished?"}}}},
      {"max_tokens", 48},
      {"temperature", 0}}.dump();
  auto r = llmops::common::http_request("127.0.0.1", port, "POST", "/v1/chat/completions", body);
  REQUIRE(r);
  INFO(r->body);
  REQUIRE(r->status == 200);
  auto answer = json::parse(r->body)["choices"][0]["message"];
  CHECK(answer.dump().find("list_tasks") != std::string::npos);

  // Stopped through the CLI; the process goes away and the store says so.
  auto stop = run_cli(t, {"deployments", "stop", "gate-assistant"});
  INFO("stdout: " << stop.out << "\nstderr: " << stop.err);
  CHECK(stop.exit_code == 0);
  CHECK(wait_until([&] { return !llmops::serve::process_alive(pid); }, 30));
  auto rows = sql(db_path(t), "SELECT state FROM deployments WHERE name = 'gate-assistant'");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0][0] == "stopped");
}
