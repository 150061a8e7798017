// Regression: a replay sends chat data without a tool list, so the model server logs the model's
// tool calls as `<tool_call>` text in `output` (it parses them into `tool_calls` only for requests
// that declare tools). The monitor used to count every such reply as invalid tool-call JSON
// (tool_call_invalid_rate 1.0 and a `quality` trigger) although the calls were valid.
#include <catch2/catch.hpp>
#include <fstream>

#include "../deployers/deployer_test_util.hpp"
#include "analyze.hpp"
#include "monitor_test_util.hpp"
#include "traffic.hpp"

using namespace llmops::monitor;
using nlohmann::json;

namespace {

// What plugins/lm/chat.cpp renders for a call, and so what the model generates.
const char* kCallText =
    "<tool_call>\n{\"name\": \"create_task\", \"arguments\": {\"title\": \"Buy milk\", "
    "\"priority\": \"high\"}}\n</tool_call>";

json completion(const std::string& id, const std::string& output) {
  return {{"type", "completion"},
          {"id", id},
          {"time", 100},
          {"status", 200},
          {"latency_ms", 5},
          {"version", "v1"},
          {"route", "/v1/chat/completions"},
          {"finish_reason", "stop"},
          {"messages", json::array({{{"role", "user"}, {"content", "add buy milk, high"}}})},
          {"output", output}};
}

}  // namespace

TEST_CASE("tool calls the server logged as text are read as tool calls", "[monitor][log]") {
  monitor_test::TempDir t;
  std::ofstream(t.path / "requests.jsonl")
      << completion("ok", kCallText).dump() << "\n"
      << completion("two", std::string("Sure.\n") + kCallText + "\n" + kCallText).dump() << "\n"
      << completion("bad",
                    "<tool_call>\n{\"name\": \"create_task\", \"arguments\": {\"title\"\n"
                    "</tool_call>")
             .dump()
      << "\n"
      << completion("cut", "<tool_call>\n{\"name\": \"create_task\", \"argu").dump() << "\n"
      << completion("text", "Done! I created it.").dump() << "\n";
  auto log = read_request_log(t.path);
  REQUIRE(log);
  REQUIRE(log->requests.size() == 5);
  const auto& ok = log->requests[0];
  REQUIRE(ok.tool_calls.size() == 1);
  CHECK(ok.tool_calls[0]["function"]["name"] == "create_task");
  CHECK(json::parse(ok.tool_calls[0]["function"]["arguments"].get<std::string>()) ==
        json({{"priority", "high"}, {"title", "Buy milk"}}));
  CHECK(ok.output.empty());
  CHECK(tool_calls_valid(ok.tool_calls, ok.output));
  CHECK(log->requests[1].tool_calls.size() == 2);
  CHECK(log->requests[1].output == "Sure.");
  // Broken JSON and a call cut off by max_tokens stay text: invalid.
  CHECK_FALSE(tool_calls_valid(log->requests[2].tool_calls, log->requests[2].output));
  CHECK_FALSE(tool_calls_valid(log->requests[3].tool_calls, log->requests[3].output));
  CHECK(log->requests[4].tool_calls.empty());

  Profile ref = build_profile({{"add buy milk, high", "create_task", ""}});
  Thresholds th;
  th.min_requests = 1;
  const auto a = analyze(ref, log->requests, {}, th);
  // 4 replies with calls, 2 of them invalid.
  CHECK(a.values["tool_call_rate"].get<double>() == Approx(0.8));
  CHECK(a.values["tool_call_invalid_rate"].get<double>() == Approx(0.5));
}

TEST_CASE("a replay against the real server reports valid tool calls as valid",
          "[monitor][replay][log]") {
  monitor_test::TempDir t;
  llmops::serve::ServerOptions o;
  o.name = "tasks";
  o.log.dir = t.path / "logs";
  auto backend = std::make_shared<dtest::FakeBackend>(kCallText);
  dtest::InProcessServer server(
      o,
      [backend](const llmops::serve::LoadRequest&)
          -> llmops::Result<std::shared_ptr<llmops::serve::Backend>> {
        return std::shared_ptr<llmops::serve::Backend>(backend);
      },
      "v1");
  monitor_test::FakeContext ctx(t.path / "work", {{"min_requests", 5}, {"replay_max_tokens", 256}});
  monitor_test::setup_replay(ctx, t.path, server.port(), monitor_test::synth("base", 3, 12),
                             monitor_test::synth("base", 1, 200));
  std::unique_ptr<llmops::Plugin> p(monitor_test::make_plugin());
  REQUIRE(p);
  auto st = p->run(ctx);
  INFO(st.message());
  REQUIRE(st);

  // The server logged the calls as text (the replayed requests declare no tools)...
  std::ifstream raw(t.path / "logs" / "requests.jsonl");
  std::string first;
  std::getline(raw, first);
  const auto rec = json::parse(first);
  CHECK_FALSE(rec.contains("tool_calls"));
  CHECK(rec["output"].get<std::string>().find("<tool_call>") != std::string::npos);
  // ...and the monitor reads them as the valid calls they are.
  CHECK(ctx.last_metric("tool_call_rate") == 1);
  CHECK(ctx.last_metric("tool_call_invalid_rate") == 0);
  for (const auto& tr : ctx.triggers) CHECK(tr.reason.find("invalid JSON") == std::string::npos);
  // The production data carries them as structured tool calls.
  std::ifstream data(ctx.outputs.at("production") / "data.jsonl");
  std::string line;
  REQUIRE(std::getline(data, line));
  const auto reply = json::parse(line)["messages"].back();
  CHECK(reply["tool_calls"][0]["function"]["name"] == "create_task");
}
