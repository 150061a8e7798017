// A chat conversation in normalised OpenAI form, and the line parser that turns one JSONL line in
// any supported format (OpenAI `messages`, ShareGPT `conversations`, Alpaca
// `instruction/input/output`) into it. A line that cannot be parsed yields a reason, never a throw.
// Thread safety: pure functions over values.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmops::curators {

struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // JSON text, as in the OpenAI format
};

struct Message {
  Message() = default;
  Message(std::string r, std::string c) : role(std::move(r)), content(std::move(c)) {}
  std::string role;  // system | user | assistant | tool
  std::string content;
  bool null_content = false;  // assistant turns that only call tools
  std::string name;           // optional
  std::string tool_call_id;   // tool turns
  std::vector<ToolCall> tool_calls;
};

struct Conversation {
  std::vector<Message> messages;
  std::string tools_json;     // the top-level `tools` array as JSON text, "" when absent
  std::string metadata_json;  // the top-level `metadata` object as JSON text, "" when absent
};

enum class Format { kOpenAI, kShareGPT, kAlpaca, kUnknown };
const char* format_name(Format f);

// Stable reason ids of a rejected line (also the keys of the data card's counts).
namespace reason {
inline constexpr const char* kEmptyLine = "empty_line";
inline constexpr const char* kInvalidUtf8 = "invalid_utf8";
inline constexpr const char* kMalformedJson = "malformed_json";
inline constexpr const char* kUnknownFormat = "unknown_format";
inline constexpr const char* kStructure = "structure";
inline constexpr const char* kTooShort = "too_short";
inline constexpr const char* kTooLong = "too_long";
inline constexpr const char* kTooManyTurns = "too_many_turns";
inline constexpr const char* kQuality = "quality";
inline constexpr const char* kOffTopic = "off_topic";
inline constexpr const char* kContaminated = "contaminated";
inline constexpr const char* kExactDuplicate = "exact_duplicate";
inline constexpr const char* kNearDuplicate = "near_duplicate";
inline constexpr const char* kDownsampled = "downsampled";
}  // namespace reason

struct ParseResult {
  bool ok = false;
  Format format = Format::kUnknown;
  Conversation conv;
  const char* reason = nullptr;  // one of reason::*, when !ok
  std::string detail;            // human-readable, when !ok
};

// Parses and normalises one line (without its newline). Checks UTF-8 (when check_utf8), JSON and
// format; structure is checked separately by check_structure().
ParseResult parse_line(std::string_view line, bool check_utf8 = true);

// Roles, order, non-empty turns, tool calls with parseable JSON arguments answered by tool turns.
// Returns "" when the conversation is well-formed, else what is wrong.
std::string check_structure(const Conversation& c);

// One JSON line (no newline) in OpenAI chat form: {"messages":[...],"tools":..,"metadata":..}.
std::string to_jsonl(const Conversation& c);

// The text deduplication and filters look at: every non-system turn as "role: content", tool calls
// as "call name(args)"; system prompts are excluded so that a shared prompt does not make every
// conversation look alike.
std::string dedup_text(const Conversation& c);
// Only what people wrote: user and assistant contents joined by newlines (quality heuristics).
std::string prose_text(const Conversation& c);
// Total bytes of content and tool-call arguments; number of non-system messages.
size_t content_bytes(const Conversation& c);
size_t turn_count(const Conversation& c);

// JSON string escaping (valid UTF-8 in, valid JSON out).
void append_json_string(std::string& out, std::string_view s);

}  // namespace llmops::curators
