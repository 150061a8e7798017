#include "conversation.hpp"

#include <nlohmann/json.hpp>
#include <set>

#include "text.hpp"

namespace llmops::curators {

using nlohmann::json;

const char* format_name(Format f) {
  switch (f) {
    case Format::kOpenAI:
      return "openai";
    case Format::kShareGPT:
      return "sharegpt";
    case Format::kAlpaca:
      return "alpaca";
    default:
      return "unknown";
  }
}

namespace {

bool fail(ParseResult& r, const char* why, std::string detail) {
  r.ok = false;
  r.reason = why;
  r.detail = std::move(detail);
  return false;
}

// A string field, or "" when absent/null; false when present with another type.
bool get_string(const json& o, const char* key, std::string& out, bool& was_null) {
  was_null = false;
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) {
    was_null = true;
    out.clear();
    return true;
  }
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

// OpenAI content may also be a list of parts; text parts are joined.
bool get_content(const json& m, std::string& out, bool& was_null) {
  auto it = m.find("content");
  if (it != m.end() && it->is_array()) {
    out.clear();
    was_null = false;
    for (const auto& part : *it) {
      if (!part.is_object()) return false;
      auto t = part.find("text");
      if (t == part.end() || !t->is_string()) continue;
      if (!out.empty()) out += "\n";
      out += t->get<std::string>();
    }
    return true;
  }
  return get_string(m, "content", out, was_null);
}

bool parse_openai(const json& j, ParseResult& r) {
  const auto& msgs = j["messages"];
  if (!msgs.is_array()) return fail(r, reason::kStructure, "'messages' is not an array");
  for (const auto& m : msgs) {
    if (!m.is_object()) return fail(r, reason::kStructure, "a message is not an object");
    Message out;
    bool null_role = false;
    if (!get_string(m, "role", out.role, null_role) || null_role)
      return fail(r, reason::kStructure, "a message has no string 'role'");
    if (!get_content(m, out.content, out.null_content))
      return fail(r, reason::kStructure, "a message 'content' is not a string");
    bool dummy;
    if (!get_string(m, "name", out.name, dummy) ||
        !get_string(m, "tool_call_id", out.tool_call_id, dummy))
      return fail(r, reason::kStructure, "'name' or 'tool_call_id' is not a string");
    if (auto tc = m.find("tool_calls"); tc != m.end() && !tc->is_null()) {
      if (!tc->is_array()) return fail(r, reason::kStructure, "'tool_calls' is not an array");
      for (const auto& c : *tc) {
        if (!c.is_object()) return fail(r, reason::kStructure, "a tool call is not an object");
        ToolCall call;
        get_string(c, "id", call.id, dummy);
        auto fn = c.find("function");
        if (fn == c.end() || !fn->is_object())
          return fail(r, reason::kStructure, "a tool call has no 'function' object");
        if (!get_string(*fn, "name", call.name, dummy))
          return fail(r, reason::kStructure, "a tool call name is not a string");
        auto args = fn->find("arguments");
        if (args == fn->end() || args->is_null()) {
          call.arguments = "{}";
        } else if (args->is_string()) {
          call.arguments = args->get<std::string>();
        } else if (args->is_object()) {
          call.arguments = args->dump();
        } else {
          return fail(r, reason::kStructure, "tool call arguments are neither text nor object");
        }
        out.tool_calls.push_back(std::move(call));
      }
    }
    r.conv.messages.push_back(std::move(out));
  }
  if (auto t = j.find("tools"); t != j.end() && t->is_array()) r.conv.tools_json = t->dump();
  return true;
}

bool parse_sharegpt(const json& j, ParseResult& r) {
  const auto& conv = j["conversations"];
  if (!conv.is_array()) return fail(r, reason::kStructure, "'conversations' is not an array");
  for (const auto& m : conv) {
    if (!m.is_object()) return fail(r, reason::kStructure, "a turn is not an object");
    std::string from, value;
    bool null_from, null_value;
    if (!get_string(m, "from", from, null_from) || null_from)
      return fail(r, reason::kStructure, "a turn has no string 'from'");
    if (!get_string(m, "value", value, null_value))
      return fail(r, reason::kStructure, "a turn 'value' is not a string");
    Message out;
    const auto f = to_lower_ascii(from);
    if (f == "human" || f == "user") {
      out.role = "user";
    } else if (f == "gpt" || f == "assistant" || f == "chatgpt" || f == "bard" || f == "bing" ||
               f == "model") {
      out.role = "assistant";
    } else if (f == "system") {
      out.role = "system";
    } else {
      return fail(r, reason::kStructure, "unsupported ShareGPT speaker '" + from + "'");
    }
    out.content = std::move(value);
    r.conv.messages.push_back(std::move(out));
  }
  if (auto s = j.find("system"); s != j.end() && s->is_string() && !s->get<std::string>().empty())
    r.conv.messages.insert(r.conv.messages.begin(), Message{"system", s->get<std::string>()});
  return true;
}

bool parse_alpaca(const json& j, ParseResult& r) {
  std::string instruction, input, output, system;
  bool n1, n2, n3, n4;
  if (!get_string(j, "instruction", instruction, n1) || !get_string(j, "input", input, n2) ||
      !get_string(j, "output", output, n3) || !get_string(j, "system", system, n4))
    return fail(r, reason::kStructure, "an Alpaca field is not a string");
  if (!system.empty()) r.conv.messages.push_back(Message{"system", system});
  if (!input.empty()) instruction += "\n\n" + input;
  r.conv.messages.push_back(Message{"user", instruction});
  r.conv.messages.push_back(Message{"assistant", output});
  return true;
}

}  // namespace

ParseResult parse_line(std::string_view line, bool check_utf8) {
  ParseResult r;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  bool blank = true;
  for (char c : line)
    if (c != ' ' && c != '\t') blank = false;
  if (blank) return fail(r, reason::kEmptyLine, "blank line"), r;
  if (check_utf8 && !valid_utf8(line)) return fail(r, reason::kInvalidUtf8, "not UTF-8"), r;
  json j = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return fail(r, reason::kMalformedJson, "not a JSON value"), r;
  if (!j.is_object()) return fail(r, reason::kMalformedJson, "not a JSON object"), r;
  try {
    bool ok;
    if (j.contains("messages")) {
      r.format = Format::kOpenAI;
      ok = parse_openai(j, r);
    } else if (j.contains("conversations")) {
      r.format = Format::kShareGPT;
      ok = parse_sharegpt(j, r);
    } else if (j.contains("instruction") && j.contains("output")) {
      r.format = Format::kAlpaca;
      ok = parse_alpaca(j, r);
    } else {
      return fail(r, reason::kUnknownFormat, "no 'messages', 'conversations' or 'instruction'"), r;
    }
    if (!ok) return r;
    if (auto m = j.find("metadata"); m != j.end() && m->is_object())
      r.conv.metadata_json = m->dump();
  } catch (const std::exception& e) {  // nlohmann type errors on odd shapes
    return fail(r, reason::kStructure, e.what()), r;
  }
  r.ok = true;
  return r;
}

std::string check_structure(const Conversation& c) {
  static const std::set<std::string> kRoles = {"system", "user", "assistant", "tool"};
  if (c.messages.empty()) return "no messages";
  std::string prev;
  std::set<std::string> pending;  // tool call ids not yet answered
  bool seen_user = false, seen_assistant = false;
  for (size_t i = 0; i < c.messages.size(); ++i) {
    const auto& m = c.messages[i];
    const auto at = " (message " + std::to_string(i + 1) + ")";
    if (!kRoles.count(m.role)) return "unknown role '" + m.role + "'" + at;
    if (m.role == "system") {
      if (!prev.empty() && prev != "system") return "system message after the start" + at;
    } else if (m.role == "user") {
      if (prev == "user") return "two user turns in a row" + at;
      if (!pending.empty()) return "tool call not answered before the user turn" + at;
      if (m.content.find_first_not_of(" \t\r\n") == std::string::npos)
        return "empty user turn" + at;
      seen_user = true;
    } else if (m.role == "assistant") {
      if (!seen_user) return "assistant speaks before the user" + at;
      if (prev == "assistant") return "two assistant turns in a row" + at;
      if (!pending.empty()) return "tool call not answered" + at;
      const bool empty = m.content.find_first_not_of(" \t\r\n") == std::string::npos;
      if (empty && m.tool_calls.empty()) return "empty assistant turn" + at;
      for (const auto& call : m.tool_calls) {
        if (call.name.empty()) return "tool call without a function name" + at;
        auto args = nlohmann::json::parse(call.arguments, nullptr, false);
        if (args.is_discarded() || !args.is_object())
          return "tool call '" + call.name + "' arguments are not a JSON object" + at;
        if (call.id.empty()) return "tool call without an id" + at;
        pending.insert(call.id);
      }
      seen_assistant = true;
    } else {  // tool
      if (prev != "assistant" && prev != "tool") return "tool turn without a tool call" + at;
      if (!pending.erase(m.tool_call_id)) return "tool turn answers no pending call" + at;
    }
    prev = m.role;
  }
  if (!seen_assistant) return "no assistant turn";
  if (prev == "user") return "ends with a user turn";
  if (prev == "tool") return "ends with a tool turn";
  return "";
}

void append_json_string(std::string& out, std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

std::string to_jsonl(const Conversation& c) {
  std::string out = "{\"messages\":[";
  for (size_t i = 0; i < c.messages.size(); ++i) {
    const auto& m = c.messages[i];
    if (i) out += ',';
    out += "{\"role\":";
    append_json_string(out, m.role);
    out += ",\"content\":";
    if (m.null_content && m.content.empty())
      out += "null";
    else
      append_json_string(out, m.content);
    if (!m.name.empty()) {
      out += ",\"name\":";
      append_json_string(out, m.name);
    }
    if (!m.tool_call_id.empty()) {
      out += ",\"tool_call_id\":";
      append_json_string(out, m.tool_call_id);
    }
    if (!m.tool_calls.empty()) {
      out += ",\"tool_calls\":[";
      for (size_t k = 0; k < m.tool_calls.size(); ++k) {
        const auto& t = m.tool_calls[k];
        if (k) out += ',';
        out += "{\"id\":";
        append_json_string(out, t.id);
        out += ",\"type\":\"function\",\"function\":{\"name\":";
        append_json_string(out, t.name);
        out += ",\"arguments\":";
        append_json_string(out, t.arguments);
        out += "}}";
      }
      out += ']';
    }
    out += '}';
  }
  out += ']';
  if (!c.tools_json.empty()) out += ",\"tools\":" + c.tools_json;
  if (!c.metadata_json.empty()) out += ",\"metadata\":" + c.metadata_json;
  out += '}';
  return out;
}

std::string dedup_text(const Conversation& c) {
  std::string s;
  for (const auto& m : c.messages) {
    if (m.role == "system") continue;
    s += m.role;
    s += ": ";
    s += m.content;
    for (const auto& t : m.tool_calls) {
      s += " call ";
      s += t.name;
      s += '(';
      s += t.arguments;
      s += ')';
    }
    s += '\n';
  }
  return s;
}

std::string prose_text(const Conversation& c) {
  std::string s;
  for (const auto& m : c.messages) {
    if (m.role != "user" && m.role != "assistant") continue;
    if (m.content.empty()) continue;
    if (!s.empty()) s += '\n';
    s += m.content;
  }
  return s;
}

size_t content_bytes(const Conversation& c) {
  size_t n = 0;
  for (const auto& m : c.messages) {
    n += m.content.size();
    for (const auto& t : m.tool_calls) n += t.arguments.size();
  }
  return n;
}

size_t turn_count(const Conversation& c) {
  size_t n = 0;
  for (const auto& m : c.messages) n += m.role != "system";
  return n;
}

}  // namespace llmops::curators
