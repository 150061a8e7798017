// Helpers for the trainer tests: the SDK's FakeStepContext laid out as the engine lays out an
// attempt (so checkpoints land where a retry finds them), a generated chat data set, and
// temporary folders.
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

#include "llmops/testing/fake_step_context.hpp"
#include "tests/common/temp_dir.hpp"

namespace trainer_test {

namespace fs = std::filesystem;
using nlohmann::json;

struct TempDir : llmops::testing::TempDir {
  TempDir() : llmops::testing::TempDir("trainer") {}
};

// The engine's layout: <work>/<attempt>/{outputs,scratch}; the trainer keeps its checkpoints in
// <work>/checkpoints, two levels above scratch.
class FakeContext : public llmops::testing::FakeStepContext {
 public:
  FakeContext(const fs::path& work, const json& params) : FakeStepContext(work / "attempt") {
    set_step_name("train");
    set_params(params);
  }
  double final_metric(const std::string& name) const { return last_metric(name).value_or(NAN); }
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
