// Sample parsing and loading; see sample.hpp.
#include "sample.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace llmops::evaluators {

using nlohmann::json;

const char* expect_name(Expect e) {
  switch (e) {
    case Expect::kToolCall:
      return "tool_call";
    case Expect::kRefusal:
      return "refusal";
    default:
      return "answer";
  }
}

namespace {

json message_json(const Message& m) {
  json j{{"role", m.role}, {"content", m.content}};
  if (!m.tool_calls.empty()) {
    j["tool_calls"] = json::array();
    for (const auto& c : m.tool_calls)
      j["tool_calls"].push_back(
          {{"type", "function"},
           {"function", {{"name", c.name}, {"arguments", c.arguments_json}}}});
  }
  return j;
}

Result<Message> parse_message(const json& m, size_t i) {
  const std::string where = "message " + std::to_string(i) + ": ";
  if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
    return Status::invalid(where + "needs a string \"role\"");
  Message msg;
  msg.role = m["role"].get<std::string>();
  if (m.contains("content") && m["content"].is_string())
    msg.content = m["content"].get<std::string>();
  else if (m.contains("content") && !m["content"].is_null())
    return Status::invalid(where + "\"content\" must be a string or null");
  if (m.contains("tool_calls") && m["tool_calls"].is_array()) {
    for (const auto& c : m["tool_calls"]) {
      const json& f = c.is_object() && c.contains("function") ? c["function"] : c;
      if (!f.is_object() || !f.contains("name") || !f["name"].is_string())
        return Status::invalid(where + "a tool call needs a function name");
      ToolCallText call{f["name"].get<std::string>(), "{}"};
      if (f.contains("arguments"))
        call.arguments_json =
            f["arguments"].is_string() ? f["arguments"].get<std::string>() : f["arguments"].dump();
      msg.tool_calls.push_back(std::move(call));
    }
  }
  return msg;
}

}  // namespace

json Sample::prompt_json() const {
  json a = json::array();
  for (size_t i = 0; i < target && i < messages.size(); ++i) a.push_back(message_json(messages[i]));
  return a;
}

json Sample::expected_json() const {
  return message_json(expected());
}

Result<Sample> parse_sample(const std::string& line, const std::string& suite,
                            const std::string& default_id, const RefusalDetector& refusals,
                            TargetTurn target) {
  auto j = json::parse(line, nullptr, false);
  if (j.is_discarded()) return Status::invalid("not valid JSON");
  if (!j.is_object() || !j.contains("messages") || !j["messages"].is_array())
    return Status::invalid("needs a \"messages\" array");
  Sample s;
  s.suite = suite;
  s.id = j.contains("id") && j["id"].is_string() ? j["id"].get<std::string>() : default_id;
  if (j.contains("category") && j["category"].is_string()) s.category = j["category"];
  const auto& ms = j["messages"];
  for (size_t i = 0; i < ms.size(); ++i) {
    auto m = parse_message(ms[i], i);
    if (!m) return m.status();
    s.messages.push_back(std::move(*m));
  }
  // The reply to the last user turn, or the last assistant turn.
  std::optional<size_t> last_user, last_assistant;
  for (size_t i = 0; i < s.messages.size(); ++i) {
    if (s.messages[i].role == "user") last_user = i;
    if (s.messages[i].role == "assistant") last_assistant = i;
  }
  if (!last_assistant) return Status::invalid("has no assistant turn to evaluate");
  if (target == TargetTurn::kLast || !last_user) {
    s.target = *last_assistant;
  } else {
    size_t i = *last_user + 1;
    while (i < s.messages.size() && s.messages[i].role != "assistant") ++i;
    if (i >= s.messages.size())
      return Status::invalid("no assistant turn answers the last user turn");
    s.target = i;
  }
  if (s.target == 0) return Status::invalid("the assistant turn has no prompt before it");
  const auto& want = s.messages[s.target];
  const std::string expect = j.contains("expect") && j["expect"].is_string() ? j["expect"] : "";
  if (expect == "refusal") {
    s.expect = Expect::kRefusal;
  } else if (expect == "tool_call" || expect == "comply" || expect == "answer") {
    s.expect = want.tool_calls.empty() ? Expect::kAnswer : Expect::kToolCall;
    if (expect == "tool_call" && want.tool_calls.empty())
      return Status::invalid("\"expect\": \"tool_call\" but the assistant turn has no tool call");
  } else if (!expect.empty()) {
    return Status::invalid("\"expect\" must be tool_call, refusal, comply or answer, not \"" +
                           expect + "\"");
  } else if (!want.tool_calls.empty()) {
    s.expect = Expect::kToolCall;
  } else {
    s.expect = refusals.is_refusal(want.content) ? Expect::kRefusal : Expect::kAnswer;
  }
  return s;
}

void load_jsonl_text(const std::string& text, const std::string& suite, const std::string& where,
                     const RefusalDetector& refusals, TargetTurn target, SuiteLoad& out) {
  std::istringstream in(text);
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto s = parse_sample(line, suite, where + ":" + std::to_string(n), refusals, target);
    if (s)
      out.samples.push_back(std::move(*s));
    else
      out.skipped.push_back(where + ":" + std::to_string(n) + ": " + s.status().message());
  }
}

Status load_jsonl_path(const std::filesystem::path& path, const std::string& suite,
                       const RefusalDetector& refusals, TargetTurn target, SuiteLoad& out) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::path> files;
  if (fs::is_directory(path, ec)) {
    for (const auto& e : fs::recursive_directory_iterator(path, ec))
      if (e.is_regular_file() && e.path().extension() == ".jsonl") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    if (files.empty()) return Status::not_found(path.string() + " holds no *.jsonl file");
  } else if (fs::is_regular_file(path, ec)) {
    files.push_back(path);
  } else {
    return Status::not_found(path.string() + " does not exist");
  }
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) return Status::internal("cannot read " + f.string());
    std::stringstream ss;
    ss << in.rdbuf();
    // A sealed single file has a content hash for a name: number its lines by suite instead.
    const auto where = files.size() == 1 && f == path ? suite : fs::relative(f, path).string();
    load_jsonl_text(ss.str(), suite, where, refusals, target, out);
  }
  return Status::ok();
}

}  // namespace llmops::evaluators
