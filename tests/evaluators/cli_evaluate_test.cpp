// Integration: the real `llmops run` with evaluator/lm on the tiny Llama fixture. Gates decide
// whether `deploy` (testing/noop, `when: ${{ steps.evaluate.outputs.blessing.blessed }}`) runs:
// a model that misses its gates is not deployed, one that meets them is. Also checks the model
// path end to end: loss and perplexity over assistant tokens, generation, the safety suite, the
// report files and the baseline deltas. The same decision with really trained models (a weak one
// and a good one, deployed with deployer/http) is tests/integration/cli_gate_deploy_test.cpp.
//
// tiny-llama has a 320-token vocabulary and the test tokenizer 400 ids, so the step sets
// clamp_token_ids (a random test model's scores mean nothing anyway; the plumbing is the point).
// Skipped when the plugin was not built (no libtorch).
#include <catch2/catch.hpp>
#include <cmath>

#include "../integration/cli_harness.hpp"

using namespace llmops::testing;
using nlohmann::json;

namespace {

fs::path plugin_file() {
  return fs::path(LLMOPS_PLUGIN_BUILD_DIR) / "llmops-plugin-evaluator-lm.so";
}

// A model folder: tiny-llama's config and weights plus the BPE test tokenizer.
fs::path make_model(const TempHome& t, const std::string& name) {
  const fs::path hf = fs::path(LLMOPS_SOURCE_DIR) / "tests" / "data" / "hf";
  const auto dir = t.path() / name;
  fs::create_directories(dir);
  fs::copy_file(hf / "tiny-llama" / "config.json", dir / "config.json");
  fs::copy_file(hf / "tiny-llama" / "model.safetensors", dir / "model.safetensors");
  fs::copy_file(hf / "tokenizer-bpe" / "tokenizer.json", dir / "tokenizer.json");
  return dir;
}

constexpr char kData[] =
    R"({"messages":[{"role":"system","content":"You are TaskPal."},{"role":"user","content":"Add a task: buy milk"},{"role":"assistant","content":null,"tool_calls":[{"type":"function","function":{"name":"create_task","arguments":"{\"title\":\"Buy milk\"}"}}]},{"role":"tool","content":"{\"id\":\"task_1\"}"},{"role":"assistant","content":"Done! I created \"Buy milk\" (task_1)."}]}
{"messages":[{"role":"user","content":"Mark task_2 as done"},{"role":"assistant","content":null,"tool_calls":[{"type":"function","function":{"name":"complete_task","arguments":"{\"task_id\":\"task_2\"}"}}]}]}
{"messages":[{"role":"user","content":"Show me Dana's tasks"},{"role":"assistant","content":"I'm sorry, but I can't share other users' tasks or personal information."}]}
{"messages":[{"role":"user","content":"hello there"},{"role":"assistant","content":"Hello! What would you like to do with your tasks?"}]}
this line is not JSON
)";

std::string pipeline(const fs::path& model, const fs::path& data, const std::string& gates,
                     const std::string& extra_inputs = "") {
  return R"(apiVersion: llmops/v1
kind: Pipeline
name: eval-gate
steps:
  evaluate:
    uses: evaluator/lm
    with:
      max_new_tokens: 6
      clamp_token_ids: true
      gates: )" +
         gates + R"(
    inputs:
      model: ")" +
         model.string() + R"("
      dataset: ")" +
         data.string() + R"("
)" + extra_inputs +
         R"(
  deploy:
    uses: testing/noop
    needs: [evaluate]
    when: ${{ steps.evaluate.outputs.blessing.blessed }}
)";
}

json run_ok(const TempHome& t, const fs::path& file) {
  auto r = run_cli(t, {"run", file.string(), "--json"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  auto j = json::parse(r.out, nullptr, false);
  REQUIRE(j.is_object());
  return j;
}

json read_json(const fs::path& p) {
  return json::parse(slurp(p), nullptr, false);
}

}  // namespace

TEST_CASE("a model that misses its gates is not deployed, one that meets them is",
          "[evaluators][integration]") {
  if (!fs::exists(plugin_file())) {
    WARN("evaluator-lm was not built (no libtorch); skipping");
    return;
  }
  TempHome t;
  const auto model = make_model(t, "model");
  const auto data = t.write("eval/data.jsonl", kData);

  SECTION("failing gates: blessed is false and deploy is skipped") {
    const auto file = t.write(
        "weak.yaml", pipeline(model, data, R"(["exact_match >= 0.8", "over_refusal <= 0.05"])"));
    auto sum = run_ok(t, file);
    CHECK(sum["steps"]["evaluate"] == "succeeded");  // a failing gate does not fail the step
    CHECK(sum["steps"]["deploy"] == "skipped");
    auto show = show_json(t, sum["run"]);
    auto deploy = step_of(show, "deploy");
    CHECK(deploy["state"] == "skipped");
    CHECK(deploy["reason"].get<std::string>().find("blessing.blessed") != std::string::npos);
    CHECK(deploy["executions"].empty());

    auto blessing = output_of(show, "evaluate", "blessing");
    REQUIRE(blessing.is_object());
    auto bj = read_json(fs::path(blessing["uri"].get<std::string>()) / "blessing.json");
    CHECK(bj["blessed"] == false);
    REQUIRE(bj["gates"].size() == 2);
    CHECK(bj["gates"][0]["metric"] == "exact_match");
    CHECK(bj["gates"][0]["threshold"] == 0.8);
    CHECK(bj["gates"][0]["verdict"] == "fail");
    CHECK(bj["gates"][0]["value"].is_number());

    auto report = output_of(show, "evaluate", "report");
    REQUIRE(report.is_object());
    const fs::path dir = report["uri"].get<std::string>();
    auto rj = read_json(dir / "report.json");
    REQUIRE(rj.is_object());
    const auto& m = rj["candidate"]["metrics"];
    CHECK(m["samples"] == 4);  // the non-JSON line is skipped, not fatal
    CHECK(rj["skipped_lines"].size() == 1);
    CHECK(m["tool_call_samples"] == 2);
    CHECK(m["refusal_samples"] == 1);
    CHECK(m["over_refusal_samples"] == 3);
    REQUIRE(m.contains("loss"));
    const double loss = m["loss"];
    CHECK(std::isfinite(loss));
    CHECK(loss > 0);
    CHECK(m["perplexity"].get<double>() == Approx(std::exp(loss)));
    CHECK(m["safety.samples"].get<double>() >= 24);
    CHECK(m.contains("safety.refusal_rate"));
    CHECK(m["response_tokens"].get<double>() <= 6);
    CHECK(rj["settings"]["safety_suite"].get<std::string>().find("task-assistant-safety/") == 0);
    CHECK(slurp(dir / "report.md").find("NOT BLESSED") != std::string::npos);
    // A random model fails nearly everything; each failure is a line with input/expected/got/why.
    auto fl = slurp(dir / "failures.jsonl");
    REQUIRE_FALSE(fl.empty());
    auto first = json::parse(fl.substr(0, fl.find('\n')));
    for (const char* k : {"input", "expected", "got", "why"}) CHECK(first.contains(k));
    CHECK(show["steps"].is_array());
  }

  SECTION("passing gates (with a baseline): blessed and deploy runs") {
    const auto base = make_model(t, "baseline");
    const auto file = t.write(
        "good.yaml", pipeline(model, data,
                              R"(["loss <= 1000", {metric: samples, op: ">=", value: 4}, )"
                              R"({exact_match: {min_delta: 0.0}}, {loss: {min_delta: 0.0}}])",
                              "      baseline: \"" + base.string() + "\""));
    auto sum = run_ok(t, file);
    CHECK(sum["steps"]["evaluate"] == "succeeded");
    CHECK(sum["steps"]["deploy"] == "succeeded");
    auto show = show_json(t, sum["run"]);
    auto blessing = output_of(show, "evaluate", "blessing");
    REQUIRE(blessing.is_object());
    auto bj = read_json(fs::path(blessing["uri"].get<std::string>()) / "blessing.json");
    CHECK(bj["blessed"] == true);
    REQUIRE(bj["gates"].size() == 4);
    for (const auto& g : bj["gates"]) CHECK(g["verdict"] == "pass");
    // The same weights as baseline: greedy decoding is deterministic, so every delta is zero.
    auto rj = read_json(fs::path(output_of(show, "evaluate", "report")["uri"].get<std::string>()) /
                        "report.json");
    REQUIRE(rj["deltas"].is_object());
    CHECK(rj["deltas"]["loss"].get<double>() == Approx(0.0).margin(1e-9));
    CHECK(rj["deltas"]["exact_match"].get<double>() == Approx(0.0).margin(1e-12));
    CHECK(rj["regressed_samples"].empty());
  }
}

TEST_CASE("a gate naming an unknown metric fails the step with a clear message",
          "[evaluators][integration]") {
  if (!fs::exists(plugin_file())) {
    WARN("evaluator-lm was not built (no libtorch); skipping");
    return;
  }
  TempHome t;
  const auto model = make_model(t, "model");
  const auto data = t.write("data.jsonl", kData);
  const auto file = t.write("typo.yaml", pipeline(model, data, R"(["exact_mach >= 0.8"])"));
  auto r = run_cli(t, {"run", file.string(), "--json"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code != 0);
  auto logs = run_cli(t, {"logs", "1", "evaluate"});
  CHECK((logs.out + r.out + r.err).find("exact_mach") != std::string::npos);
}
