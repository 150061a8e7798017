// What monitor/drift reads and writes: the model server's request log (docs/deployer.md, "Request
// log"), the reference (training) dataset in chat JSONL, and the `production` dataset it makes
// from logged traffic plus reviewed corrections. Readers skip lines they cannot use and count them;
// they never throw.
// Thread safety: pure functions over values and files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "llmops/status.hpp"

namespace llmops::monitor {

// One logged completion (type "completion").
struct LoggedRequest {
  std::string id;
  double time = 0;
  int status = 0;
  double latency_ms = 0;
  std::string version;
  nlohmann::json messages = nlohmann::json::array();  // the request's messages (chat route)
  std::string prompt;                                 // the last user turn (or the raw prompt)
  std::string output;                                 // generated text
  nlohmann::json tool_calls = nlohmann::json::array();
  std::string finish_reason;
  std::string error;
  bool ok() const { return status >= 200 && status < 300; }
};

// The server turns `<tool_call>` blocks of the generated text into `tool_calls` only when the
// request declared `tools`; otherwise (a replay of chat data, which has no tool list) the calls
// stay in `output` as text, in the form plugins/lm/chat.cpp renders them. This parses them the
// same way: each closed block that is a JSON object with a string `name` and object `arguments`
// becomes a tool call (arguments as a JSON string, as the server logs them) and leaves the text;
// an invalid or unclosed block stays in `output`, where tool_calls_valid() counts it as invalid.
// Records that already have tool calls are left alone. read_request_log() applies it.
void lift_tool_calls(LoggedRequest& r);

struct RequestLog {
  std::vector<LoggedRequest> requests;     // oldest first
  std::map<std::string, double> feedback;  // completion id -> last score sent
  int64_t skipped_lines = 0;
};

// `path`: a requests.jsonl file or a folder holding requests.jsonl and its rotations
// (requests.jsonl.N, oldest = highest N, read first) or any *.jsonl files (in name order).
Result<RequestLog> read_request_log(const std::filesystem::path& path);

// Keeps the requests of `version` (all when empty) with time >= since, then the last `window`
// of them (all when window <= 0).
std::vector<LoggedRequest> select_window(const std::vector<LoggedRequest>& all,
                                         const std::string& version, double since, int64_t window);

// The window of a monitor that replayed `replayed` requests (< 0: none) from unix time `started`:
// select_window from the whole second the replay started (the log's times are whole seconds),
// expecting the replayed requests, or the last `window` of them. When fewer than expected carry
// such a time (a server clock lagging ours), the newest expected-count requests of the version
// instead, with `fell_back` set.
struct ReplayWindow {
  std::vector<LoggedRequest> requests;
  int64_t expected = 0;  // 0 without a replay
  bool fell_back = false;
};
ReplayWindow select_replay_window(const std::vector<LoggedRequest>& all, const std::string& version,
                                  double since, double started, int64_t replayed, int64_t window);

// One user turn of the reference data with what the assistant did next.
struct Sample {
  std::string prompt;
  std::string function;  // the tool the assistant's next turn calls first, "" when none
  std::string response;  // the assistant's next turn, when it is text (no tool call)
};

struct Reference {
  std::vector<Sample> samples;
  int64_t conversations = 0;
  int64_t skipped_lines = 0;
};

// Reads chat JSONL (`messages` arrays; a file or every *.jsonl in a folder, in name order).
Result<Reference> read_reference(const std::filesystem::path& path, int64_t max_conversations = 0);

// The user-visible text of a message's `content` (a string or a list of text parts).
std::string content_text(const nlohmann::json& content);
// True when a reply reads like a refusal ("I can't", "I'm sorry, but", "unable to", ...).
bool looks_like_refusal(const std::string& text);
// Whether every tool call has a name and JSON-object arguments, and the text has no unparsed
// <tool_call> block.
bool tool_calls_valid(const nlohmann::json& tool_calls, const std::string& output);

struct ProductionStats {
  int64_t logged = 0;       // conversations written from the log
  int64_t corrections = 0;  // reviewed corrections appended
  int64_t replaced = 0;     // logged exchanges dropped because a correction has the same prompt
};
// Writes `out_file` (chat JSONL): each successful logged exchange as a conversation (request
// messages + the assistant's reply) with metadata {source: "production", id, version}, then the
// lines of `corrections` (chat JSONL; may be empty), which replace logged exchanges whose last user
// turn they share.
Result<ProductionStats> write_production(const std::vector<LoggedRequest>& requests,
                                         const std::optional<std::filesystem::path>& corrections,
                                         const std::filesystem::path& out_file);

// The *.jsonl files of a folder in name order, or the file itself.
std::vector<std::filesystem::path> jsonl_files(const std::filesystem::path& path);

}  // namespace llmops::monitor
