// RequestLog: every request and response of the model server (prompt, tool calls, output, latency,
// status, model version) and every piece of user feedback, appended as one JSON object per line
// to <dir>/requests.jsonl. The monitor reads these files. When the file passes max_bytes it is
// renamed requests.jsonl.1 (older ones shift to .2, ...; `keep` files are kept) and a new one
// starts. With redaction on, PII in the text fields (prompt, messages, output, tool_calls,
// comment) is replaced by typed placeholders (<EMAIL>, <PHONE>, ...) before it reaches the disk.
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
  bool redact_pii = false;
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

// Replaces PII in every string under the text fields of a log record (see above).
void redact_record(nlohmann::json& record);

}  // namespace llmops::serve
