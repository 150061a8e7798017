// The OpenAI-compatible request layer of the model server: parsing and validating
// /v1/chat/completions, /v1/completions, /v1/feedback and /admin/load bodies into plain structs,
// OpenAI error objects, the tools system prompt, parsing the model's ChatML tool calls back into
// OpenAI's `tool_calls`, and the stop-string / hold-back logic of streaming. Torch-free and
// network-free, so it is unit tested and fuzzed (tests/fuzz/fuzz_serve_request.cpp) on its own.
// Every parse function accepts any bytes and never throws.
// Thread safety: plain values and free functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lm/chat.hpp"

namespace llmops::serve {

// OpenAI's error object: {"error": {"message", "type", "param", "code"}} with an HTTP status.
struct ApiError {
  ApiError() = default;
  ApiError(int s, std::string m, std::string t = "invalid_request_error", std::string p = "",
           std::string c = "")
      : status(s),
        message(std::move(m)),
        type(std::move(t)),
        param(std::move(p)),
        code(std::move(c)) {}
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // "" -> null
  std::string code;   // "" -> null
};
std::string error_body(const ApiError& e);

// Limits the server applies while parsing (the rest are checked once the prompt is tokenised).
// The body itself is bounded before parsing (ServerOptions::max_body_bytes); these bound what a
// body of that size may hold, so that no request costs more than its bytes: nesting depth (the
// JSON library's dump and copy recurse), messages, tools, stop strings and names.
struct RequestLimits {
  int64_t max_tokens_cap = 512;      // a larger max_tokens is a 400
  int64_t default_max_tokens = 128;  // when the request names none
  size_t max_messages = 1024;
  size_t max_stop = 4;
  size_t max_stop_bytes = 1024;  // each stop string
  size_t max_tools = 128;
  size_t max_name_bytes = 256;  // "model", a tool's name
  int max_json_depth = 64;      // nested arrays and objects
};

// The deepest nesting of arrays and objects in `body` read as JSON text (brackets inside strings
// do not count), stopping early once it passes `limit`. Linear, no allocation.
int json_depth(std::string_view body, int limit);

struct ToolSpec {
  std::string name;
  std::string description;
  std::string parameters_json = "{}";
};

struct CompletionRequest {
  bool chat = true;
  std::string model;
  std::vector<lm::ChatMessage> messages;  // chat
  std::string prompt;                     // completions
  std::vector<ToolSpec> tools;
  std::string tool_choice = "auto";  // none | auto | required
  double temperature = 1.0;
  double top_p = 1.0;
  int64_t max_tokens = 0;
  std::vector<std::string> stop;
  std::optional<uint64_t> seed;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool ignore_eos = false;     // vLLM's extension: generate max_tokens whatever the model says
  std::string user;

  bool tools_active() const { return chat && !tools.empty() && tool_choice != "none"; }
};

struct ParsedRequest {
  std::optional<ApiError> error;
  CompletionRequest request;
};
ParsedRequest parse_chat_request(std::string_view body, const RequestLimits& limits);
ParsedRequest parse_completion_request(std::string_view body, const RequestLimits& limits);

struct FeedbackRequest {
  std::string id;           // the completion id the feedback is about
  std::string json = "{}";  // the whole body, as sent (re-serialised)
};
struct ParsedFeedback {
  std::optional<ApiError> error;
  FeedbackRequest feedback;
};
ParsedFeedback parse_feedback_request(std::string_view body, int max_json_depth = 64);

// POST /admin/load: {"model_dir", "version", "canary_percent" (0 or 100: switch all traffic),
// "tokenizer" (optional tokenizer.json)}.
struct LoadRequest {
  std::string model_dir;
  std::string version;
  int canary_percent = 0;
  std::string tokenizer;
};
struct ParsedLoad {
  std::optional<ApiError> error;
  LoadRequest load;
};
ParsedLoad parse_load_request(std::string_view body, int max_json_depth = 64);

// The credentials of an `Authorization: Bearer <token>` header value. The scheme is
// case-insensitive (RFC 9110, 11.1) and may be followed by several spaces; surrounding
// whitespace is ignored. Empty when the value is not a bearer credential.
std::optional<std::string_view> bearer_token(std::string_view authorization);

// The conversation the model sees: the tools (Hermes / Qwen 2.5 style, inside <tools></tools>)
// join the first system message, or become one.
std::vector<lm::ChatMessage> with_tools_prompt(const std::vector<lm::ChatMessage>& messages,
                                               const std::vector<ToolSpec>& tools);

// Splits what the model said into content and the <tool_call>{json}</tool_call> blocks that
// chat.hpp renders. A block whose JSON does not parse stays in the content.
struct AssistantOutput {
  std::string content;
  std::vector<lm::ToolCall> tool_calls;
};
AssistantOutput parse_tool_calls(std::string_view text);

inline constexpr std::string_view kToolCallOpen = "<tool_call>";

// Where the earliest stop string starts in `text`, or npos.
size_t find_stop(std::string_view text, const std::vector<std::string>& stops);
// How much of `text` may be streamed now: everything except a trailing partial UTF-8 character
// (U+FFFD from a half-decoded byte token) and a suffix that could still grow into one of `holds`
// (stop strings, the tool-call marker).
size_t safe_stream_length(std::string_view text, const std::vector<std::string>& holds);

}  // namespace llmops::serve
