#include "traffic.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <string_view>

namespace llmops::monitor {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

double num(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

std::string last_user(const json& messages) {
  std::string out;
  if (!messages.is_array()) return out;
  for (const auto& m : messages)
    if (m.is_object() && str(m, "role") == "user") out = content_text(m.value("content", json()));
  return out;
}

// Rotation suffix of requests.jsonl.N, or -1 for anything else.
int rotation(const fs::path& p) {
  const auto name = p.filename().string();
  const std::string base = "requests.jsonl.";
  if (name.rfind(base, 0) != 0) return -1;
  try {
    return std::stoi(name.substr(base.size()));
  } catch (...) {
    return -1;
  }
}

}  // namespace

void lift_tool_calls(LoggedRequest& r) {
  static constexpr std::string_view kOpen = "<tool_call>", kClose = "</tool_call>";
  if (!r.tool_calls.empty() || r.output.find(kOpen) == std::string::npos) return;
  std::string content;
  json calls = json::array();
  size_t pos = 0;
  const std::string& text = r.output;
  while (pos < text.size()) {
    const size_t open = text.find(kOpen, pos);
    if (open == std::string::npos) break;
    const size_t body = open + kOpen.size();
    const size_t close = text.find(kClose, body);
    if (close == std::string::npos) break;  // cut off: stays as text, so it counts as invalid
    const json j = json::parse(text.substr(body, close - body), nullptr, false);
    const json args = j.is_object() ? j.value("arguments", json()) : json();
    const json parsed =
        args.is_string() ? json::parse(args.get<std::string>(), nullptr, false) : args;
    if (!j.is_object() || str(j, "name").empty() || !parsed.is_object()) {
      content.append(text, pos, close + kClose.size() - pos);  // invalid: kept as text
    } else {
      content.append(text, pos, open - pos);
      calls.push_back({{"type", "function"},
                       {"function", {{"name", str(j, "name")}, {"arguments", parsed.dump()}}}});
    }
    pos = close + kClose.size();
  }
  if (calls.empty()) return;
  content.append(text, std::min(pos, text.size()));
  // chat.hpp puts a newline between content and a call: formatting, not content.
  while (!content.empty() && (content.back() == '\n' || content.back() == ' ')) content.pop_back();
  while (!content.empty() && (content.front() == '\n' || content.front() == ' '))
    content.erase(content.begin());
  r.output = std::move(content);
  r.tool_calls = std::move(calls);
}

std::string content_text(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string out;
  if (content.is_array())
    for (const auto& part : content)
      if (part.is_object() && part.value("type", "") == "text") {
        if (!out.empty()) out += "\n";
        out += str(part, "text");
      }
  return out;
}

bool looks_like_refusal(const std::string& text) {
  static const char* kMarkers[] = {"i can't",
                                   "i cannot",
                                   "i can’t",
                                   "i'm sorry",
                                   "i am sorry",
                                   "unable to",
                                   "i'm not able to",
                                   "i am not able",
                                   "i won't",
                                   "not something i can",
                                   "i don't have access"};
  const auto t = lower(text.substr(0, 200));
  for (const char* m : kMarkers)
    if (t.find(m) != std::string::npos) return true;
  return false;
}

bool tool_calls_valid(const json& tool_calls, const std::string& output) {
  if (output.find("<tool_call>") != std::string::npos) return false;
  if (!tool_calls.is_array()) return false;
  for (const auto& c : tool_calls) {
    const auto& f = c.is_object() && c.contains("function") ? c["function"] : c;
    if (!f.is_object() || str(f, "name").empty()) return false;
    const auto args = f.value("arguments", json());
    json parsed = args.is_string() ? json::parse(args.get<std::string>(), nullptr, false) : args;
    if (!parsed.is_object()) return false;
  }
  return true;
}

std::vector<fs::path> jsonl_files(const fs::path& path) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    if (fs::exists(path, ec)) out.push_back(path);
    return out;
  }
  for (const auto& e : fs::directory_iterator(path, ec))
    if (e.is_regular_file() && e.path().extension() == ".jsonl") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

Result<RequestLog> read_request_log(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::not_found("request log not found: " + path.string());
  std::vector<fs::path> files;
  if (fs::is_directory(path, ec)) {
    std::vector<std::pair<int, fs::path>> rotated;
    for (const auto& e : fs::directory_iterator(path, ec))
      if (e.is_regular_file() && rotation(e.path()) > 0)
        rotated.emplace_back(rotation(e.path()), e.path());
    std::sort(rotated.begin(), rotated.end(), [](auto& a, auto& b) { return a.first > b.first; });
    for (auto& [n, p] : rotated) files.push_back(p);
    for (const auto& p : jsonl_files(path)) files.push_back(p);
  } else {
    files.push_back(path);
  }
  RequestLog log;
  for (const auto& f : files) {
    std::ifstream in(f);
    if (!in) return Status::not_found("cannot read " + f.string());
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      json j = json::parse(line, nullptr, false);
      if (!j.is_object()) {
        ++log.skipped_lines;
        continue;
      }
      const auto type = str(j, "type");
      if (type == "feedback") {
        const auto& fb = j.value("feedback", json::object());
        auto id = fb.is_object() ? str(fb, "id") : std::string();
        if (id.empty()) id = str(j, "id");
        if (!id.empty() && fb.is_object() && fb.contains("score") && fb["score"].is_number())
          log.feedback[id] = fb["score"].get<double>();
        continue;
      }
      if (type != "completion") continue;
      LoggedRequest r;
      r.id = str(j, "id");
      r.time = num(j, "time");
      r.status = static_cast<int>(num(j, "status"));
      r.latency_ms = num(j, "latency_ms");
      r.version = str(j, "version");
      if (j.contains("messages") && j["messages"].is_array()) {
        r.messages = j["messages"];
        r.prompt = last_user(r.messages);
      } else {
        r.prompt = str(j, "prompt");
      }
      r.output = str(j, "output");
      if (j.contains("tool_calls") && j["tool_calls"].is_array()) r.tool_calls = j["tool_calls"];
      lift_tool_calls(r);
      r.finish_reason = str(j, "finish_reason");
      r.error = str(j, "error");
      log.requests.push_back(std::move(r));
    }
  }
  std::stable_sort(log.requests.begin(), log.requests.end(),
                   [](const auto& a, const auto& b) { return a.time < b.time; });
  return log;
}

std::vector<LoggedRequest> select_window(const std::vector<LoggedRequest>& all,
                                         const std::string& version, double since, int64_t window) {
  std::vector<LoggedRequest> out;
  for (const auto& r : all)
    if ((version.empty() || r.version == version) && r.time >= since) out.push_back(r);
  if (window > 0 && static_cast<int64_t>(out.size()) > window)
    out.erase(out.begin(), out.end() - window);
  return out;
}

ReplayWindow select_replay_window(const std::vector<LoggedRequest>& all, const std::string& version,
                                  double since, double started, int64_t replayed, int64_t window) {
  ReplayWindow w;
  if (replayed < 0) {
    w.requests = select_window(all, version, since, window);
    return w;
  }
  w.expected = window > 0 && replayed > window ? window : replayed;
  w.requests = select_window(all, version, std::max(since, std::floor(started)), window);
  if (static_cast<int64_t>(w.requests.size()) < w.expected) {
    auto recent = select_window(all, version, since, w.expected);
    if (recent.size() > w.requests.size()) {
      w.requests = std::move(recent);
      w.fell_back = true;
    }
  }
  return w;
}

Result<Reference> read_reference(const fs::path& path, int64_t max_conversations) {
  const auto files = jsonl_files(path);
  if (files.empty()) return Status::not_found("no reference data (*.jsonl) at " + path.string());
  Reference ref;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      if (max_conversations > 0 && ref.conversations >= max_conversations) return ref;
      json j = json::parse(line, nullptr, false);
      if (!j.is_object() || !j.contains("messages") || !j["messages"].is_array()) {
        ++ref.skipped_lines;
        continue;
      }
      ++ref.conversations;
      const auto& ms = j["messages"];
      for (size_t i = 0; i < ms.size(); ++i) {
        if (!ms[i].is_object() || str(ms[i], "role") != "user") continue;
        Sample s;
        s.prompt = content_text(ms[i].value("content", json()));
        // The first assistant turn is what a live request's response compares with.
        for (size_t k = i + 1; k < ms.size() && str(ms[k], "role") != "user"; ++k) {
          if (str(ms[k], "role") != "assistant") continue;
          const auto calls = ms[k].value("tool_calls", json::array());
          if (calls.is_array() && !calls.empty() && calls[0].is_object())
            s.function = str(calls[0].value("function", json::object()), "name");
          else
            s.response = content_text(ms[k].value("content", json()));
          break;
        }
        ref.samples.push_back(std::move(s));
      }
    }
  }
  return ref;
}

Result<ProductionStats> write_production(const std::vector<LoggedRequest>& requests,
                                         const std::optional<fs::path>& corrections,
                                         const fs::path& out_file) {
  ProductionStats st;
  std::vector<std::string> correction_lines;
  std::set<std::string> corrected_prompts;
  if (corrections) {
    const auto files = jsonl_files(*corrections);
    if (files.empty())
      return Status::not_found("no corrections (*.jsonl) at " + corrections->string());
    for (const auto& f : files) {
      std::ifstream in(f);
      std::string line;
      while (std::getline(in, line)) {
        json j = json::parse(line, nullptr, false);
        if (!j.is_object() || !j.contains("messages")) continue;
        corrected_prompts.insert(last_user(j["messages"]));
        if (!line.empty() && line.back() == '\r') line.pop_back();
        correction_lines.push_back(line);  // as reviewed, byte for byte
      }
    }
  }
  std::ofstream out(out_file);
  if (!out) return Status::internal("cannot write " + out_file.string());
  for (const auto& r : requests) {
    if (!r.ok() || !r.messages.is_array() || r.messages.empty()) continue;
    if (corrected_prompts.count(r.prompt)) {
      ++st.replaced;
      continue;
    }
    json msgs = r.messages;
    json reply = {{"role", "assistant"}};
    if (r.tool_calls.is_array() && !r.tool_calls.empty()) {
      reply["content"] = r.output.empty() ? json() : json(r.output);
      reply["tool_calls"] = r.tool_calls;
    } else {
      reply["content"] = r.output;
    }
    msgs.push_back(std::move(reply));
    json line = {{"messages", std::move(msgs)},
                 {"metadata", {{"source", "production"}, {"id", r.id}, {"version", r.version}}}};
    out << line.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
    ++st.logged;
  }
  for (const auto& l : correction_lines) out << l << '\n';
  st.corrections = static_cast<int64_t>(correction_lines.size());
  if (!out) return Status::internal("write failed: " + out_file.string());
  return st;
}

}  // namespace llmops::monitor
