// Tool-call parsing and comparison; see tool_calls.hpp.
#include "tool_calls.hpp"

namespace llmops::evaluators {

using nlohmann::json;

namespace {

constexpr std::string_view kOpen = "<tool_call>";
constexpr std::string_view kClose = "</tool_call>";
constexpr std::string_view kEnd = "<|im_end|>";

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// One block's JSON -> a call, or the reason it is not one.
std::string parse_block(std::string_view body, ParsedCall& call) {
  auto j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded()) return "tool call is not valid JSON";
  if (!j.is_object()) return "tool call is not a JSON object";
  if (!j.contains("name") || !j["name"].is_string()) return "tool call has no string \"name\"";
  call.name = j["name"].get<std::string>();
  if (!j.contains("arguments")) return "tool call has no \"arguments\"";
  auto args = j["arguments"];
  if (args.is_string()) {
    auto inner = json::parse(args.get<std::string>(), nullptr, false);
    if (inner.is_discarded() || !inner.is_object())
      return "tool call \"arguments\" is a string that is not a JSON object";
    args = std::move(inner);
  }
  if (!args.is_object()) return "tool call \"arguments\" is not an object";
  call.arguments = std::move(args);
  return "";
}

}  // namespace

ParsedReply parse_reply(std::string_view text) {
  ParsedReply r;
  if (auto p = text.find(kEnd); p != std::string_view::npos) text = text.substr(0, p);
  std::string content;
  size_t pos = 0;
  while (pos < text.size()) {
    const auto open = text.find(kOpen, pos);
    if (open == std::string_view::npos) {
      content += text.substr(pos);
      break;
    }
    content += text.substr(pos, open - pos);
    ++r.blocks;
    const auto body_begin = open + kOpen.size();
    const auto close = text.find(kClose, body_begin);
    if (close == std::string_view::npos) {
      if (r.error.empty()) r.error = "tool call block is not closed (</tool_call> missing)";
      break;
    }
    ParsedCall call;
    auto why = parse_block(text.substr(body_begin, close - body_begin), call);
    if (why.empty())
      r.calls.push_back(std::move(call));
    else if (r.error.empty())
      r.error = why;
    pos = close + kClose.size();
  }
  r.content = trim(content);
  r.valid = r.blocks > 0 && static_cast<int>(r.calls.size()) == r.blocks;
  if (r.blocks == 0) r.error = "no tool call in the reply";
  return r;
}

std::vector<ParsedCall> expected_calls(const Message& m) {
  std::vector<ParsedCall> out;
  for (const auto& c : m.tool_calls) {
    auto args = json::parse(c.arguments_json, nullptr, false);
    out.push_back({c.name, args.is_discarded() ? json(c.arguments_json) : args});
  }
  return out;
}

bool same_arguments(const json& a, const json& b) {
  // nlohmann's object type is a std::map, so == ignores key order; numbers compare by value
  // across integer and float representations.
  return a == b;
}

bool same_names(const std::vector<ParsedCall>& got, const std::vector<ParsedCall>& want) {
  if (got.size() != want.size()) return false;
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i].name != want[i].name) return false;
  return true;
}

bool same_calls(const std::vector<ParsedCall>& got, const std::vector<ParsedCall>& want) {
  if (!same_names(got, want)) return false;
  for (size_t i = 0; i < got.size(); ++i)
    if (!same_arguments(got[i].arguments, want[i].arguments)) return false;
  return true;
}

}  // namespace llmops::evaluators
