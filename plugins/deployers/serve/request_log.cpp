// The rotating JSONL request log; see request_log.hpp.
#include "request_log.hpp"

#include <set>

#include "plugins/common/pii.hpp"

namespace llmops::serve {
namespace {

void redact_all(nlohmann::json& j) {
  if (j.is_string()) {
    common::PiiCounts counts;
    j = common::redact_pii(j.get_ref<const std::string&>(), counts);
  } else if (j.is_array() || j.is_object()) {
    for (auto& x : j) redact_all(x);
  }
}

}  // namespace

void redact_record(nlohmann::json& record) {
  if (!record.is_object()) {
    redact_all(record);
    return;
  }
  // Written by the server, never a client's text: everything else is redacted, so a field added
  // later is covered until it is listed here.
  static const std::set<std::string, std::less<>> kStructural = {"type",
                                                                 "id",
                                                                 "time",
                                                                 "route",
                                                                 "version",
                                                                 "model",
                                                                 "status",
                                                                 "code",
                                                                 "latency_ms",
                                                                 "ttft_ms",
                                                                 "queue_ms",
                                                                 "prompt_tokens",
                                                                 "completion_tokens",
                                                                 "stream",
                                                                 "finish_reason",
                                                                 "rejected",
                                                                 "body_bytes",
                                                                 "n_messages",
                                                                 "prompt_bytes",
                                                                 "max_tokens",
                                                                 "param",
                                                                 "action",
                                                                 "ok",
                                                                 "canary_percent",
                                                                 "model_dir"};
  for (auto it = record.begin(); it != record.end(); ++it) {
    if (kStructural.count(it.key())) continue;
    if (it.key() == "feedback" && it->is_object()) {
      // The completion id and score tie feedback to its request (the monitor reads them).
      for (auto f = it->begin(); f != it->end(); ++f)
        if (f.key() != "id" && f.key() != "score") redact_all(*f);
      continue;
    }
    redact_all(*it);
  }
}

RequestLog::RequestLog(RequestLogOptions options) : options_(std::move(options)) {}

Status RequestLog::open() {
  if (!enabled()) return Status::ok();
  std::error_code ec;
  std::filesystem::create_directories(options_.dir, ec);
  if (ec)
    return Status::internal("cannot create log folder " + options_.dir.string() + ": " +
                            ec.message());
  out_.open(path(), std::ios::app | std::ios::binary);
  if (!out_) return Status::internal("cannot open " + path().string());
  size_ = static_cast<int64_t>(std::filesystem::file_size(path(), ec));
  return Status::ok();
}

void RequestLog::rotate() {
  out_.close();
  std::error_code ec;
  const auto base = path().string();
  std::filesystem::remove(base + "." + std::to_string(options_.keep), ec);
  for (int i = options_.keep - 1; i >= 1; --i)
    std::filesystem::rename(base + "." + std::to_string(i), base + "." + std::to_string(i + 1), ec);
  if (options_.keep > 0)
    std::filesystem::rename(base, base + ".1", ec);
  else
    std::filesystem::remove(base, ec);
  out_.open(path(), std::ios::app | std::ios::binary);
  size_ = 0;
}

void RequestLog::append(nlohmann::json record) {
  if (!enabled()) return;
  if (options_.redact_pii) redact_record(record);
  const auto line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard lock(mu_);
  if (size_ > 0 && size_ + static_cast<int64_t>(line.size()) > options_.max_bytes) rotate();
  out_ << line;
  out_.flush();
  size_ += static_cast<int64_t>(line.size());
}

}  // namespace llmops::serve
