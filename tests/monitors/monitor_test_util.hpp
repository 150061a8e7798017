// Helpers for the monitor tests: temporary folders, the SDK's FakeStepContext on a folder of the
// test's, and synthetic traffic (the curators' generator) turned into request-log lines.
#pragma once

#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "llmops/plugin.hpp"
#include "llmops/testing/fake_step_context.hpp"
#include "synth.hpp"
#include "tests/common/temp_dir.hpp"

namespace monitor_test {

namespace fs = std::filesystem;
using nlohmann::json;

struct TempDir : llmops::testing::TempDir {
  TempDir() : llmops::testing::TempDir("monitor") {}
};

class FakeContext : public llmops::testing::FakeStepContext {
 public:
  FakeContext(const fs::path& work, const json& params) : FakeStepContext(work) {
    set_step_name("monitor");
    set_params(params);
  }
};

// Clean synthetic chat JSONL (no injected dirt) of a scenario.
inline std::string synth(const std::string& scenario, uint64_t seed, int64_t count) {
  llmops::curators::SynthOptions o;
  o.seed = seed;
  o.count = count;
  o.scenario = scenario;
  o.exact_duplicate_rate = o.near_duplicate_rate = o.pii_rate = o.malformed_json_rate = 0;
  o.invalid_utf8_rate = o.empty_turn_rate = o.wrong_order_rate = o.overlong_rate = 0;
  o.off_topic_rate = 0;
  std::ostringstream out;
  auto r = llmops::curators::generate_synthetic(o, out);
  return r ? out.str() : std::string();
}

// Each first user turn of the chat JSONL as a logged completion answered with the data's reply.
inline std::string as_request_log(const std::string& chat_jsonl, const std::string& version,
                                  double latency_ms = 50) {
  std::istringstream in(chat_jsonl);
  std::ostringstream out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    auto c = json::parse(line, nullptr, false);
    if (!c.is_object()) continue;
    json msgs = json::array(), rec;
    for (const auto& m : c["messages"]) {
      msgs.push_back(m);
      if (m["role"] == "user") break;
    }
    rec = {{"type", "completion"},     {"id", "chatcmpl-" + std::to_string(n)},
           {"time", 1700000000 + n},   {"route", "/v1/chat/completions"},
           {"version", version},       {"status", 200},
           {"latency_ms", latency_ms}, {"messages", msgs}};
    const auto& ms = c["messages"];
    for (size_t i = msgs.size(); i < ms.size(); ++i)
      if (ms[i]["role"] == "assistant") {
        if (ms[i].contains("tool_calls")) {
          rec["tool_calls"] = ms[i]["tool_calls"];
          rec["output"] = "";
        } else {
          rec["output"] = ms[i].value("content", "");
        }
        break;
      }
    out << rec.dump() << "\n";
    ++n;
  }
  return out.str();
}

inline void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// The files of a replay against a server on loopback: replay/data.jsonl (the traffic),
// ref/data.jsonl (the training data) and dep/deployment.json (where the server listens and logs to
// `root`/logs), wired as the monitor's `replay`, `reference` and `deployment` inputs.
inline void setup_replay(FakeContext& ctx, const fs::path& root, int port,
                         const std::string& replay, const std::string& reference) {
  write_file(root / "replay" / "data.jsonl", replay);
  write_file(root / "ref" / "data.jsonl", reference);
  write_file(root / "dep" / "deployment.json",
             nlohmann::json{{"name", "tasks"},
                            {"host", "127.0.0.1"},
                            {"port", port},
                            {"version", "v1"},
                            {"request_log", (root / "logs").string()}}
                 .dump());
  ctx.add_input("deployment", root / "dep", "deployment");
  ctx.add_input("reference", root / "ref", "dataset");
  ctx.add_input("replay", root / "replay", "dataset");
}

// A fresh monitor/drift plugin from the build's plugin folder (null when it does not load). The
// library is never closed: libtorch, which it may link, does not unload cleanly.
inline llmops::Plugin* make_plugin() {
  const auto so = std::filesystem::path(LLMOPS_PLUGIN_BUILD_DIR) / "llmops-plugin-monitor-drift.so";
  void* lib = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) return nullptr;
  auto create = reinterpret_cast<llmops::Plugin* (*)()>(dlsym(lib, "llmops_plugin_create"));
  return create ? create() : nullptr;
}

}  // namespace monitor_test
