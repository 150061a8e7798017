// Helpers for the trainer tests: a StepContext fake that drives run_torch_lm() like the engine
// does (params as JSON, inputs as paths, outputs in a temporary folder), a generated chat data
// set, and temporary folders.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "llmops/plugin.hpp"
#include "tests/common/fake_step_context.hpp"
#include "tests/common/temp_dir.hpp"

namespace trainer_test {

namespace fs = std::filesystem;
using nlohmann::json;

struct TempDir : llmops::testing::TempDir {
  TempDir() : llmops::testing::TempDir("trainer") {}
};

class FakeContext : public llmops::testing::FakeStepContextBase {
 public:
  FakeContext(fs::path work, json params)
      : FakeStepContextBase(std::move(params), "train"), work_(std::move(work)) {}

  std::map<std::string, std::vector<std::pair<int64_t, double>>> metrics;
  std::vector<std::string> logs;
  std::map<std::string, fs::path> outputs;
  int64_t cancel_after = -1;  // cancelled() turns true once progress reaches this step
  double last_done = 0;
  fs::path output(const std::string& name, const std::string&) override {
    auto p = work_ / "attempt" / "outputs" / name;
    fs::remove_all(p);
    fs::create_directories(p);
    outputs[name] = p;
    return p;
  }
  void set_output_metadata(const std::string&, const std::string&) override {}
  fs::path scratch_dir() override {
    auto p = work_ / "attempt" / "scratch";
    fs::create_directories(p);
    return p;
  }
  void metric(const std::string& n, double v, int64_t step) override {
    metrics[n].emplace_back(step, v);
  }
  void progress(double done, double, const std::string&) override { last_done = done; }
  void log(llmops::LogLevel, const std::string& m) override { logs.push_back(m); }
  bool cancelled() const override { return cancel_after >= 0 && last_done >= cancel_after; }
  void trigger(const std::string&, const std::string&, const std::string&) override {}

  double final_metric(const std::string& n) const {
    auto it = metrics.find(n);
    return it == metrics.end() || it->second.empty() ? NAN : it->second.back().second;
  }

 private:
  fs::path work_;
};

// `n` short conversations from a few templates (arithmetic, colours, capitals, a tool call),
// deterministic for a seed: a task a tiny model can learn far beyond token frequencies.
inline void write_task_data(const fs::path& file, int n, uint64_t seed = 7) {
  std::mt19937_64 rng(seed);
  const std::vector<std::pair<std::string, std::string>> capitals = {
      {"France", "Paris"}, {"Japan", "Tokyo"}, {"Italy", "Rome"},    {"Spain", "Madrid"},
      {"Peru", "Lima"},    {"Egypt", "Cairo"}, {"Kenya", "Nairobi"}, {"Chile", "Santiago"}};
  const std::vector<std::string> items = {"milk", "bread", "eggs", "tea", "rice", "soap"};
  const std::vector<std::string> numbers = {"zero", "one", "two",   "three", "four",
                                            "five", "six", "seven", "eight", "nine"};
  std::ofstream out(file, std::ios::binary);
  for (int i = 0; i < n; ++i) {
    json msgs = json::array();
    msgs.push_back({{"role", "system"}, {"content", "You are a helpful assistant."}});
    switch (i % 4) {
      case 0: {
        auto a = rng() % 5, b = rng() % 5;
        msgs.push_back(
            {{"role", "user"}, {"content", "What is " + numbers[a] + " plus " + numbers[b] + "?"}});
        msgs.push_back(
            {{"role", "assistant"},
             {"content", numbers[a] + " plus " + numbers[b] + " is " + numbers[a + b] + "."}});
        break;
      }
      case 1: {
        const auto& [country, city] = capitals[rng() % capitals.size()];
        msgs.push_back({{"role", "user"}, {"content", "What is the capital of " + country + "?"}});
        msgs.push_back({{"role", "assistant"},
                        {"content", "The capital of " + country + " is " + city + "."}});
        break;
      }
      case 2: {
        const auto& item = items[rng() % items.size()];
        msgs.push_back({{"role", "user"}, {"content", "Add " + item + " to my list."}});
        msgs.push_back(
            {{"role", "assistant"},
             {"content", nullptr},
             {"tool_calls",
              {{{"type", "function"},
                {"function",
                 {{"name", "add_item"}, {"arguments", json({{"item", item}}).dump()}}}}}}});
        msgs.push_back({{"role", "tool"}, {"content", "{\"ok\": true}"}});
        msgs.push_back({{"role", "assistant"}, {"content", "Added " + item + " to your list."}});
        break;
      }
      default: {
        const auto& w = numbers[rng() % numbers.size()];
        msgs.push_back({{"role", "user"}, {"content", "Spell " + w + " backwards."}});
        msgs.push_back(
            {{"role", "assistant"}, {"content", std::string(w.rbegin(), w.rend()) + "."}});
      }
    }
    out << json({{"messages", msgs}}).dump() << "\n";
  }
}

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace trainer_test
