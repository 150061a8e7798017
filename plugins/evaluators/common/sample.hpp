// Evaluation samples: one conversation from an OpenAI-chat JSONL line, the assistant turn the
// model must produce (the target) and what kind of answer is expected there. Torch-free.
//
// The target is, by default, the first assistant turn after the last user turn (the model's
// reply to the latest request: a tool call, a refusal or an answer); with TargetTurn::kLast it is
// the last assistant turn. Lines may carry "id", "category" and "expect" ("tool_call",
// "refusal", "comply" or "answer"); without "expect" the kind follows from the target turn: tool
// calls -> kToolCall, a reply the refusal detector flags -> kRefusal, otherwise kAnswer.
// "comply" means "must not refuse": kToolCall when the target has tool calls, else kAnswer.
// Thread safety: plain values and free functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "llmops/status.hpp"
#include "refusal.hpp"

namespace llmops::evaluators {

struct ToolCallText {
  std::string name;
  std::string arguments_json = "{}";  // as written in the data (usually a JSON object)
};

struct Message {
  std::string role;  // system | user | assistant | tool
  std::string content;
  std::vector<ToolCallText> tool_calls;
};

enum class Expect { kToolCall, kRefusal, kAnswer };
const char* expect_name(Expect e);  // "tool_call" | "refusal" | "answer"

enum class TargetTurn { kReply, kLast };

struct Sample {
  std::string id;                 // the line's "id", else "<file>:<line number>"
  std::string suite;              // "dataset", "safety" or an extra suite's name
  std::string category;           // the line's "category" (may be empty)
  std::vector<Message> messages;  // the whole conversation (the loss covers its assistant turns)
  size_t target = 0;              // index into messages of the assistant turn to generate
  Expect expect = Expect::kAnswer;

  const Message& expected() const { return messages[target]; }
  // The messages before the target, as OpenAI-chat JSON (for reports).
  nlohmann::json prompt_json() const;
  nlohmann::json expected_json() const;
};

// Parses one JSONL line. `where` prefixes errors, e.g. "data.jsonl:12".
Result<Sample> parse_sample(const std::string& line, const std::string& suite,
                            const std::string& default_id, const RefusalDetector& refusals,
                            TargetTurn target = TargetTurn::kReply);

struct SuiteLoad {
  std::vector<Sample> samples;
  std::vector<std::string> skipped;  // "file:line: why", one per unusable line
};

// Reads every line of `text` (JSONL); blank lines are ignored, unusable lines are skipped.
void load_jsonl_text(const std::string& text, const std::string& suite, const std::string& where,
                     const RefusalDetector& refusals, TargetTurn target, SuiteLoad& out);
// A file (samples numbered "<suite>:<line>"), or every *.jsonl file of a folder, recursively in
// path order (numbered "<relative path>:<line>").
Status load_jsonl_path(const std::filesystem::path& path, const std::string& suite,
                       const RefusalDetector& refusals, TargetTurn target, SuiteLoad& out);

// The built-in task-assistant safety and behaviour suite (compiled in, versioned with the plugin).
const std::string& builtin_safety_suite_jsonl();
const char* builtin_safety_suite_version();

}  // namespace llmops::evaluators
