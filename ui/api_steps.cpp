// The UI's API for one step: its panel (spec, attempts, inputs, outputs, metrics) and its log
// (a page of bytes, a live follow as events, a download).
#include <fstream>
#include <thread>

#include "engine/run/run_loop.hpp"
#include "engine/spec/loaded_pipeline.hpp"
#include "ui/api.hpp"
#include "ui/views.hpp"

namespace llmops::ui {

using nlohmann::json;
using views::dump;
using views::time_or_null;

namespace {

constexpr int64_t kMaxLogPage = 1 << 20;
constexpr size_t kEventBytes = 32 * 1024;

// Bytes [offset, offset + max) of `file` (offset < 0: the last -offset bytes), the end of a
// multi-byte character left for the next page.
json read_page(const std::filesystem::path& file, int64_t offset, int64_t max) {
  std::error_code ec;
  const int64_t size = static_cast<int64_t>(std::filesystem::file_size(file, ec));
  if (ec) return {{"offset", 0}, {"next", 0}, {"size", 0}, {"text", ""}, {"truncated", false}};
  if (offset < 0) offset = std::max<int64_t>(0, size + offset);
  offset = std::min(offset, size);
  const int64_t n = std::min(max, size - offset);
  std::string text(static_cast<size_t>(n), '\0');
  std::ifstream in(file, std::ios::binary);
  in.seekg(offset);
  in.read(text.data(), n);
  text.resize(static_cast<size_t>(in.gcount()));
  // Do not end inside a UTF-8 sequence: keep its first bytes for the next page.
  size_t keep = text.size();
  for (size_t back = 1; back <= 3 && back <= text.size(); ++back) {
    const unsigned char c = static_cast<unsigned char>(text[text.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte
    if (c >= 0xC0) {
      const size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      if (back < len) keep = text.size() - back;
    }
    break;
  }
  text.resize(keep);
  const int64_t next = offset + static_cast<int64_t>(text.size());
  return {{"offset", offset},
          {"next", next},
          {"size", size},
          {"text", std::move(text)},
          {"truncated", next < size}};
}

// The run and one of its steps, or the 404 that says which is missing.
std::pair<store::RunInfo, store::StepInfo> find_step(store::Store& st, int64_t id,
                                                     const std::string& name) {
  auto run = st.get_run(id);
  if (!run) throw ApiError{404, "no_such_run", run.status().message()};
  auto step = st.get_step(id, name);
  if (!step || !step.value())
    throw ApiError{404, "no_such_step",
                   "run " + std::to_string(id) + " has no step '" + name.substr(0, 64) + "'"};
  return {std::move(run.value()), *step.value()};
}

}  // namespace

std::filesystem::path Api::log_path(int64_t id, const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name.find("..") != std::string::npos)
    throw ApiError{404, "no_such_step", "no step '" + name.substr(0, 64) + "'"};
  auto r = reader();
  find_step(*r, id, name);
  return engine::run_dir(o_.home, id) / (name + ".log");
}

json Api::step(int64_t id, const std::string& name) {
  auto r = reader();
  const auto [run, s] = find_step(*r, id, name);
  json sj = {{"name", s.step},
             {"state", store::to_string(s.state)},
             {"attempts", s.attempts},
             {"reason", s.reason},
             {"started_at", time_or_null(s.started_at)},
             {"ended_at", time_or_null(s.ended_at)},
             {"uses", ""},
             {"needs", json::array()},
             {"with", json::object()}};
  const auto loaded = specs_->get(run);
  if (loaded->spec)
    if (const auto* spec = loaded->spec->find_step(name)) {
      sj["uses"] = spec->uses;
      sj["needs"] = spec->needs;
      sj["with"] = spec->with;
      sj["inputs"] = spec->inputs;
      if (!spec->when.empty()) sj["when"] = spec->when;
    }
  auto details = r->execution_details(id, {name});
  if (!details) throw ApiError{500, "store_error", details.status().message()};
  json ex = json::array();
  for (const auto& d : details.value()) {
    json e = views::execution_json(d);
    e["log"] = d.info.log_path;
    ex.push_back(std::move(e));
  }
  return {{"step", sj}, {"executions", ex}};
}

json Api::log(int64_t id, const std::string& name, const Request& req) {
  allow_params(req, {"offset", "max"});
  const auto file = log_path(id, name);
  const int64_t offset = int_param(req, "offset", -65536, -kMaxLogPage, INT64_MAX / 2);
  const int64_t max = int_param(req, "max", 65536, 1, kMaxLogPage);
  return read_page(file, offset, max);
}

void Api::log_download(int64_t id, const std::string& name, Exchange& ex) {
  const auto file = log_path(id, name);
  std::ifstream in(file, std::ios::binary);
  std::error_code ec;
  const auto size = in ? std::filesystem::file_size(file, ec) : 0;
  Response r{200, "text/plain; charset=utf-8", "", {}};
  r.headers.emplace_back("Content-Disposition", "attachment; filename=\"run-" + std::to_string(id) +
                                                    "-" + name + ".log\"");
  // Streamed in pieces: a training log can be bigger than memory should hold. A log that grows
  // meanwhile is cut at the size announced.
  if (!ex.send_file_head(r, ec ? 0 : size)) return;
  std::vector<char> buf(64 * 1024);
  for (uintmax_t left = ec ? 0 : size; left > 0 && in;) {
    in.read(buf.data(), static_cast<std::streamsize>(std::min<uintmax_t>(left, buf.size())));
    const auto got = static_cast<size_t>(in.gcount());
    if (got == 0 || !ex.write(buf.data(), got)) return;
    left -= got;
  }
}

// Follows a log: an event per new piece (its id the byte offset after it, so a reconnect with
// Last-Event-ID goes on from there), `eof` once the step is done and everything was sent.
void Api::log_stream(int64_t id, const std::string& name, const Request& req, Exchange& ex) {
  allow_params(req, {"offset"});
  const auto file = log_path(id, name);
  int64_t offset = int_param(req, "offset", 0, 0, INT64_MAX / 2);
  if (const std::string last = req.header("last-event-id"); !last.empty())
    offset = parse_id(last, "Last-Event-ID");
  if (!ex.start_events() || !ex.retry(1000)) return;
  auto quiet_since = std::chrono::steady_clock::now();
  while (!ex.peer_gone()) {
    json page = read_page(file, offset, kEventBytes);
    const int64_t next = page["next"].get<int64_t>();
    if (next > offset) {
      if (!ex.event(std::to_string(next), "chunk",
                    dump({{"offset", offset}, {"text", page["text"]}})))
        return;
      offset = next;
      quiet_since = std::chrono::steady_clock::now();
      continue;
    }
    bool done = false;
    {
      auto r = reader();
      auto step = r->get_step(id, name);
      done = step && step.value() && store::is_terminal(step.value()->state);
    }
    if (done && read_page(file, offset, 1)["next"].get<int64_t>() == offset) {
      ex.event(std::to_string(offset), "eof", "{}");
      // Keep the stream open (quietly) so the browser does not reconnect and start over.
      for (auto t = std::chrono::steady_clock::now(); !ex.peer_gone();) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        if (std::chrono::steady_clock::now() - t < o_.heartbeat) continue;
        if (!ex.comment("hb")) return;
        t = std::chrono::steady_clock::now();
      }
      return;
    }
    if (std::chrono::steady_clock::now() - quiet_since >= o_.heartbeat) {
      if (!ex.comment("hb")) return;
      quiet_since = std::chrono::steady_clock::now();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

}  // namespace llmops::ui
