// RequestLog: every request and response of the model server (prompt, tool calls, output, latency,
// status, model version) and every piece of user feedback, appended as one JSON object per line
// to <dir>/requests.jsonl. The monitor reads these files. When the file passes max_bytes it is
// renamed requests.jsonl.1 (older ones shift to .2, ...; `keep` files are kept) and a new one
// starts. Redaction is on by default: PII in every free-text field (prompt, messages with their
// tool-call arguments, user, output, tool_calls, feedback, error, and any field not known to be
// structural) is replaced by typed placeholders (<EMAIL>, <PHONE>, ...) before it reaches the
// disk; only `redact_pii = false` (llmops-serve --no-redact-pii) logs text verbatim.
// Thread safety: append() may be called from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "llmops/status.hpp"

namespace llmops::serve {

struct RequestLogOptions {
  std::filesystem::path dir;  // empty: no log
  int64_t max_bytes = 64ll << 20;
  int keep = 5;
  bool redact_pii = true;
};

class RequestLog {
 public:
  explicit RequestLog(RequestLogOptions options);
  Status open();
  bool enabled() const { return !options_.dir.empty(); }
  void append(nlohmann::json record);
  std::filesystem::path path() const { return options_.dir / "requests.jsonl"; }

 private:
  void rotate();
  RequestLogOptions options_;
  std::mutex mu_;
  std::ofstream out_;
  int64_t size_ = 0;
};

// Replaces PII in every string of a log record except the structural fields (type, id, time,
// route, version, status, counts and timings, finish_reason, ...), which the server writes itself.
void redact_record(nlohmann::json& record);

}  // namespace llmops::serve
