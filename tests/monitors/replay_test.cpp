// monitor/drift's replay: a chat dataset sent to an in-process model server (fake backend) over
// loopback, read back from the server's request log and analysed.
#include <catch2/catch.hpp>
#include <ctime>
#include <fstream>

#include "../deployers/deployer_test_util.hpp"
#include "monitor_test_util.hpp"

namespace {

// A model server on loopback whose fake model answers `reply`, serving version v1.
std::unique_ptr<dtest::InProcessServer> fake_server(const std::filesystem::path& log_dir,
                                                    const std::string& reply) {
  llmops::serve::ServerOptions o;
  o.name = "tasks";
  o.log.dir = log_dir;
  auto backend = std::make_shared<dtest::FakeBackend>(reply);
  return std::make_unique<dtest::InProcessServer>(
      o,
      [backend](const llmops::serve::LoadRequest&)
          -> llmops::Result<std::shared_ptr<llmops::serve::Backend>> {
        return std::shared_ptr<llmops::serve::Backend>(backend);
      },
      "v1");
}

int64_t count_user_turns(const std::string& jsonl) {
  int64_t n = 0;
  std::istringstream in(jsonl);
  for (std::string line; std::getline(in, line);) {
    const auto conv = nlohmann::json::parse(line);
    for (const auto& m : conv["messages"]) n += m["role"] == "user" ? 1 : 0;
  }
  return n;
}

}  // namespace

TEST_CASE("replay sends each user turn to the deployment and monitors the logged traffic",
          "[monitor][replay]") {
  monitor_test::TempDir t;
  auto server = fake_server(t.path / "logs", "I'm sorry, I can't help with that.");

  const auto shifted = monitor_test::synth("production-shift", 5, 40);
  const int64_t user_turns = count_user_turns(shifted);
  monitor_test::FakeContext ctx(t.path / "work", {{"min_requests", 10}, {"replay_max_tokens", 16}});
  monitor_test::setup_replay(ctx, t.path, server->port(), shifted,
                             monitor_test::synth("base", 1, 400));
  std::unique_ptr<llmops::Plugin> p(monitor_test::make_plugin());
  REQUIRE(p);
  auto st = p->run(ctx);
  REQUIRE(st);

  const auto report =
      nlohmann::json::parse(std::ifstream(ctx.outputs.at("report") / "report.json"));
  CHECK(report["context"]["replayed"] == user_turns);
  CHECK(report["requests"] == user_turns);
  CHECK(report["values"]["error_rate"] == 0);
  // Every answer is a refusal, and the prompts carry the new vocabulary and intents.
  CHECK(report["values"]["refusal_rate"] == 1);
  std::vector<std::string> kinds;
  for (const auto& tr : ctx.triggers) kinds.push_back(tr.kind);
  CHECK(std::find(kinds.begin(), kinds.end(), "drift") != kinds.end());
  std::ifstream data(ctx.outputs.at("production") / "data.jsonl");
  int64_t lines = 0;
  for (std::string line; std::getline(data, line);) {
    const auto j = nlohmann::json::parse(line);
    CHECK(j["messages"].back()["role"] == "assistant");
    CHECK(j["metadata"]["source"] == "production");
    ++lines;
  }
  CHECK(lines == user_turns);
}

TEST_CASE("a monitor that replays judges its replay, not earlier traffic in the same log",
          "[monitor][replay]") {
  monitor_test::TempDir t;
  auto server = fake_server(t.path / "logs", "Done.");
  // An earlier run's replay against a deployment with the same version label, an hour ago.
  {
    std::ofstream log(t.path / "logs" / "requests.jsonl", std::ios::app);
    for (int i = 0; i < 50; ++i)
      log << R"({"type":"completion","id":"old)" << i << R"(","time":)"
          << (std::time(nullptr) - 3600)
          << R"(,"status":200,"latency_ms":5,"version":"v1","prompt":"old","output":"old"})"
          << "\n";
  }
  const auto traffic = monitor_test::synth("base", 6, 10);
  const int64_t user_turns = count_user_turns(traffic);
  monitor_test::FakeContext ctx(t.path / "work", {{"min_requests", 1}, {"replay_max_tokens", 8}});
  monitor_test::setup_replay(ctx, t.path, server->port(), traffic,
                             monitor_test::synth("base", 1, 200));
  std::unique_ptr<llmops::Plugin> p(monitor_test::make_plugin());
  REQUIRE(p);
  REQUIRE(p->run(ctx));
  const auto report =
      nlohmann::json::parse(std::ifstream(ctx.outputs.at("report") / "report.json"));
  CHECK(report["context"]["logged_requests"] == user_turns + 50);
  CHECK(report["context"]["replayed"] == user_turns);
  CHECK(report["requests"] == user_turns);
}

#ifdef LLMOPS_MONITOR_HAVE_LM
TEST_CASE("with a model, the report compares live-prompt and reference perplexity",
          "[monitor][perplexity]") {
  monitor_test::TempDir t;
  monitor_test::write_file(t.path / "ref" / "data.jsonl", monitor_test::synth("base", 1, 50));
  monitor_test::write_file(
      t.path / "log" / "requests.jsonl",
      monitor_test::as_request_log(monitor_test::synth("production-shift", 2, 30), "v1"));
  monitor_test::write_file(t.path / "eval" / "report.json",
                           R"({"candidate":{"metrics":{"perplexity":3.5}}})");
  monitor_test::FakeContext ctx(t.path / "work", {{"perplexity_samples", 8}, {"min_requests", 5}});
  ctx.add_input("requests", t.path / "log", "file");
  ctx.add_input("reference", t.path / "ref", "dataset");
  ctx.add_input("model", dtest::tiny_model(), "model");
  ctx.add_input("tokenizer", dtest::bpe_tokenizer(), "tokenizer");
  ctx.add_input("eval_report", t.path / "eval", "report");
  std::unique_ptr<llmops::Plugin> p(monitor_test::make_plugin());
  REQUIRE(p);
  auto st = p->run(ctx);
  INFO(st.message());
  REQUIRE(st);
  CHECK(ctx.last_metric("live_prompt_perplexity") > 1);
  CHECK(ctx.last_metric("reference_prompt_perplexity") > 1);
  CHECK(ctx.last_metric("perplexity_ratio") > 0);
  CHECK(ctx.last_metric("eval_perplexity") == 3.5);
}
#endif
