// Request parsing and validation for the model server; see api.hpp.
#include "api.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>

namespace llmops::serve {
namespace {

using nlohmann::json;

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

ApiError bad(std::string message, std::string param = "", std::string code = "") {
  return ApiError{400, std::move(message), "invalid_request_error", std::move(param),
                  std::move(code)};
}

// Parses without exceptions; any non-object is an error of its own. Nesting deeper than
// `max_depth` is refused before parsing: the parser is iterative, but dump() and copies recurse.
std::optional<ApiError> parse_object(std::string_view body, json& out, int max_depth) {
  if (json_depth(body, max_depth) > max_depth)
    return ApiError{
        400,
        "The JSON body nests arrays and objects more than " + std::to_string(max_depth) + " deep.",
        "invalid_request_error", "", "json_too_deep"};
  out = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded())
    return ApiError{400, "We could not parse the JSON body of your request.",
                    "invalid_request_error", "", "invalid_json"};
  if (!out.is_object()) return bad("The request body must be a JSON object.");
  return std::nullopt;
}

std::optional<ApiError> get_number(const json& j, const char* key, double lo, double hi,
                                   double& out) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  if (!j[key].is_number()) return bad(std::string("'") + key + "' must be a number", key);
  const double v = j[key].get<double>();
  if (!std::isfinite(v) || v < lo || v > hi)
    return bad(std::string("'") + key + "' must be between " + json(lo).dump() + " and " +
                   json(hi).dump() + ", got " + json(v).dump(),
               key);
  out = v;
  return std::nullopt;
}

std::optional<ApiError> get_bool(const json& j, const char* key, bool& out) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  if (!j[key].is_boolean()) return bad(std::string("'") + key + "' must be a boolean", key);
  out = j[key].get<bool>();
  return std::nullopt;
}

// The fields chat and plain completions share.
std::optional<ApiError> parse_common(const json& j, const RequestLimits& limits,
                                     CompletionRequest& r) {
  if (!j.contains("model") || !j["model"].is_string() || j["model"].get<std::string>().empty())
    return bad("you must provide a model parameter", "model");
  r.model = j["model"].get<std::string>();
  if (r.model.size() > limits.max_name_bytes)
    return bad("'model' is longer than " + std::to_string(limits.max_name_bytes) + " bytes",
               "model");
  if (auto e = get_number(j, "temperature", 0, 2, r.temperature)) return e;
  if (auto e = get_number(j, "top_p", 0, 1, r.top_p)) return e;
  if (j.contains("top_p") && j["top_p"].is_number() && r.top_p <= 0)
    return bad("'top_p' must be above 0", "top_p");
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (!j.contains(key) || j[key].is_null()) continue;
    if (!j[key].is_number_integer())
      return bad(std::string("'") + key + "' must be an integer", key);
    const auto v = j[key].get<int64_t>();
    if (v < 1) return bad(std::string("'") + key + "' must be at least 1", key);
    if (v > limits.max_tokens_cap)
      return bad(std::string("'") + key + "' is " + std::to_string(v) +
                     ", above this server's limit of " + std::to_string(limits.max_tokens_cap),
                 key, "max_tokens_exceeded");
    r.max_tokens = v;
  }
  if (r.max_tokens == 0) r.max_tokens = std::min(limits.default_max_tokens, limits.max_tokens_cap);
  if (j.contains("n") && !j["n"].is_null() &&
      !(j["n"].is_number_integer() && j["n"].get<int64_t>() == 1))
    return bad("only n = 1 is supported", "n");
  if (j.contains("stop") && !j["stop"].is_null()) {
    const auto& s = j["stop"];
    if (s.is_string()) {
      r.stop.push_back(s.get<std::string>());
    } else if (s.is_array()) {
      for (const auto& x : s) {
        if (!x.is_string()) return bad("'stop' must be a string or an array of strings", "stop");
        r.stop.push_back(x.get<std::string>());
      }
    } else {
      return bad("'stop' must be a string or an array of strings", "stop");
    }
    if (r.stop.size() > limits.max_stop)
      return bad("'stop' holds at most " + std::to_string(limits.max_stop) + " strings", "stop");
    for (const auto& x : r.stop) {
      if (x.empty()) return bad("'stop' strings must not be empty", "stop");
      if (x.size() > limits.max_stop_bytes)
        return bad("'stop' strings are at most " + std::to_string(limits.max_stop_bytes) + " bytes",
                   "stop");
    }
  }
  if (j.contains("seed") && !j["seed"].is_null()) {
    if (!j["seed"].is_number_integer()) return bad("'seed' must be an integer", "seed");
    r.seed = j["seed"].is_number_unsigned() ? j["seed"].get<uint64_t>()
                                            : static_cast<uint64_t>(j["seed"].get<int64_t>());
  }
  if (auto e = get_bool(j, "stream", r.stream)) return e;
  if (auto e = get_bool(j, "ignore_eos", r.ignore_eos)) return e;
  if (j.contains("stream_options") && j["stream_options"].is_object())
    if (auto e = get_bool(j["stream_options"], "include_usage", r.include_usage)) return e;
  if (j.contains("user") && j["user"].is_string()) r.user = j["user"].get<std::string>();
  return std::nullopt;
}

std::optional<ApiError> parse_tools(const json& j, const RequestLimits& limits,
                                    CompletionRequest& r) {
  if (j.contains("tools") && !j["tools"].is_null()) {
    if (!j["tools"].is_array()) return bad("'tools' must be an array", "tools");
    if (j["tools"].size() > limits.max_tools)
      return bad("'tools' holds at most " + std::to_string(limits.max_tools) + " functions",
                 "tools");
    for (const auto& t : j["tools"]) {
      if (!t.is_object() || t.value("type", std::string("function")) != "function" ||
          !t.contains("function") || !t["function"].is_object())
        return bad("each tool must be {\"type\": \"function\", \"function\": {...}}", "tools");
      const auto& f = t["function"];
      if (!f.contains("name") || !f["name"].is_string() || f["name"].get<std::string>().empty())
        return bad("each tool function needs a name", "tools");
      ToolSpec spec;
      spec.name = f["name"].get<std::string>();
      if (spec.name.size() > limits.max_name_bytes)
        return bad("a tool's name is at most " + std::to_string(limits.max_name_bytes) + " bytes",
                   "tools");
      if (f.contains("description") && f["description"].is_string())
        spec.description = f["description"].get<std::string>();
      if (f.contains("parameters")) {
        if (!f["parameters"].is_object())
          return bad("a tool's 'parameters' must be a JSON Schema object", "tools");
        spec.parameters_json = f["parameters"].dump();
      }
      r.tools.push_back(std::move(spec));
    }
  }
  if (j.contains("tool_choice") && !j["tool_choice"].is_null()) {
    const auto& c = j["tool_choice"];
    if (c.is_string()) {
      r.tool_choice = c.get<std::string>();
      if (r.tool_choice != "none" && r.tool_choice != "auto" && r.tool_choice != "required")
        return bad("'tool_choice' must be none, auto, required or a function", "tool_choice");
    } else if (!c.is_object()) {
      return bad("'tool_choice' must be none, auto, required or a function", "tool_choice");
    }
  }
  return std::nullopt;
}

// One OpenAI chat message. Content is a string, null, or a list of text parts (what newer
// clients send); only text is understood. (lm::parse_chat_messages does the same for training
// data, but lives in the torch-linked library.)
Result<lm::ChatMessage> parse_message(const json& m, size_t i) {
  const std::string where = "message " + std::to_string(i) + ": ";
  if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
    return Status::invalid(where + "needs a string \"role\"");
  lm::ChatMessage msg;
  msg.role = m["role"].get<std::string>();
  if (msg.role != "system" && msg.role != "user" && msg.role != "assistant" && msg.role != "tool" &&
      msg.role != "developer")
    return Status::invalid(where + "unknown role '" + msg.role + "'");
  if (m.contains("content")) {
    const auto& c = m["content"];
    if (c.is_string()) {
      msg.content = c.get<std::string>();
    } else if (c.is_array()) {
      for (const auto& part : c) {
        if (!part.is_object() || !part.contains("text") || !part["text"].is_string() ||
            (part.contains("type") && part["type"] != "text"))
          return Status::invalid(where + "only text content parts are supported");
        msg.content += part["text"].get<std::string>();
      }
    } else if (!c.is_null()) {
      return Status::invalid(where + "\"content\" must be a string, an array of parts or null");
    }
  }
  if (m.contains("tool_calls") && !m["tool_calls"].is_null()) {
    if (!m["tool_calls"].is_array() || msg.role != "assistant")
      return Status::invalid(where + "\"tool_calls\" must be an array, on assistant messages");
    for (const auto& c : m["tool_calls"]) {
      const json* f = c.is_object() && c.contains("function") ? &c["function"] : &c;
      if (!f->is_object() || !f->contains("name") || !(*f)["name"].is_string())
        return Status::invalid(where + "a tool call needs a function name");
      lm::ToolCall call{(*f)["name"].get<std::string>(), "{}"};
      if (f->contains("arguments")) {
        const auto& a = (*f)["arguments"];
        call.arguments_json = a.is_string() ? a.get<std::string>() : dump(a);
      }
      msg.tool_calls.push_back(std::move(call));
    }
  }
  if (msg.role == "developer") msg.role = "system";  // OpenAI's newer name for it
  return msg;
}

}  // namespace

int json_depth(std::string_view body, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : body) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

std::optional<std::string_view> bearer_token(std::string_view v) {
  auto ows = [](char c) { return c == ' ' || c == '\t'; };
  while (!v.empty() && ows(v.front())) v.remove_prefix(1);
  while (!v.empty() && ows(v.back())) v.remove_suffix(1);
  static constexpr std::string_view kScheme = "bearer";
  if (v.size() <= kScheme.size() || !ows(v[kScheme.size()])) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(v[i])) != kScheme[i]) return std::nullopt;
  v.remove_prefix(kScheme.size());
  while (!v.empty() && ows(v.front())) v.remove_prefix(1);
  // token68: no whitespace inside.
  if (v.empty() || std::find_if(v.begin(), v.end(), ows) != v.end()) return std::nullopt;
  return v;
}

std::string error_body(const ApiError& e) {
  json err = {{"message", e.message},
              {"type", e.type},
              {"param", e.param.empty() ? json(nullptr) : json(e.param)},
              {"code", e.code.empty() ? json(nullptr) : json(e.code)}};
  return json{{"error", err}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

ParsedRequest parse_chat_request(std::string_view body, const RequestLimits& limits) {
  ParsedRequest out;
  auto& r = out.request;
  r.chat = true;
  json j;
  if ((out.error = parse_object(body, j, limits.max_json_depth))) return out;
  if ((out.error = parse_common(j, limits, r))) return out;
  if (!j.contains("messages") || !j["messages"].is_array() || j["messages"].empty()) {
    out.error = bad("'messages' must be a non-empty array", "messages");
    return out;
  }
  if (j["messages"].size() > limits.max_messages) {
    out.error = bad("too many messages", "messages");
    return out;
  }
  for (size_t i = 0; i < j["messages"].size(); ++i) {
    auto msg = parse_message(j["messages"][i], i);
    if (!msg) {
      out.error = bad(msg.status().message(), "messages");
      return out;
    }
    r.messages.push_back(std::move(*msg));
  }
  out.error = parse_tools(j, limits, r);
  return out;
}

ParsedRequest parse_completion_request(std::string_view body, const RequestLimits& limits) {
  ParsedRequest out;
  auto& r = out.request;
  r.chat = false;
  json j;
  if ((out.error = parse_object(body, j, limits.max_json_depth))) return out;
  if ((out.error = parse_common(j, limits, r))) return out;
  const json* p = j.contains("prompt") ? &j["prompt"] : nullptr;
  if (p && p->is_array() && p->size() == 1) p = &(*p)[0];
  if (!p || !p->is_string()) {
    out.error = bad("'prompt' must be a string (or an array of one string)", "prompt");
    return out;
  }
  r.prompt = p->get<std::string>();
  if (r.prompt.empty()) out.error = bad("'prompt' must not be empty", "prompt");
  return out;
}

ParsedFeedback parse_feedback_request(std::string_view body, int max_json_depth) {
  ParsedFeedback out;
  json j;
  if ((out.error = parse_object(body, j, max_json_depth))) return out;
  if (!j.contains("id") || !j["id"].is_string() || j["id"].get<std::string>().empty()) {
    out.error = bad("feedback needs the 'id' of the completion it is about", "id");
    return out;
  }
  if (j.contains("score") && !j["score"].is_null() && !j["score"].is_number()) {
    out.error = bad("'score' must be a number", "score");
    return out;
  }
  out.feedback.id = j["id"].get<std::string>();
  out.feedback.json = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return out;
}

ParsedLoad parse_load_request(std::string_view body, int max_json_depth) {
  ParsedLoad out;
  json j;
  if ((out.error = parse_object(body, j, max_json_depth))) return out;
  auto& l = out.load;
  if (!j.contains("model_dir") || !j["model_dir"].is_string() ||
      j["model_dir"].get<std::string>().empty()) {
    out.error = bad("'model_dir' must name a model folder", "model_dir");
    return out;
  }
  l.model_dir = j["model_dir"].get<std::string>();
  if (j.contains("version") && j["version"].is_string()) l.version = j["version"];
  if (l.version.empty() || l.version.size() > 128) {
    out.error = bad("'version' must be a non-empty string (at most 128 bytes)", "version");
    return out;
  }
  if (j.contains("canary_percent") && !j["canary_percent"].is_null()) {
    if (!j["canary_percent"].is_number_integer() || j["canary_percent"].get<int64_t>() < 0 ||
        j["canary_percent"].get<int64_t>() > 100) {
      out.error = bad("'canary_percent' must be an integer from 0 to 100", "canary_percent");
      return out;
    }
    l.canary_percent = static_cast<int>(j["canary_percent"].get<int64_t>());
  }
  if (j.contains("tokenizer") && j["tokenizer"].is_string()) l.tokenizer = j["tokenizer"];
  return out;
}

std::vector<lm::ChatMessage> with_tools_prompt(const std::vector<lm::ChatMessage>& messages,
                                               const std::vector<ToolSpec>& tools) {
  if (tools.empty()) return messages;
  std::string text =
      "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
      "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
  for (const auto& t : tools) {
    nlohmann::ordered_json f;
    f["type"] = "function";
    f["function"]["name"] = t.name;
    f["function"]["description"] = t.description;
    f["function"]["parameters"] = nlohmann::ordered_json::parse(t.parameters_json, nullptr, false);
    if (f["function"]["parameters"].is_discarded()) f["function"]["parameters"] = json::object();
    text += "\n" + f.dump();
  }
  text +=
      "\n</tools>\n\nFor each function call, return a json object with function name and "
      "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": "
      "<function-name>, \"arguments\": <args-json-object>}\n</tool_call>";
  auto out = messages;
  if (!out.empty() && out.front().role == "system") {
    out.front().content += "\n\n" + text;
  } else {
    out.insert(out.begin(), lm::ChatMessage{"system", text, {}});
  }
  return out;
}

AssistantOutput parse_tool_calls(std::string_view text) {
  AssistantOutput out;
  static constexpr std::string_view kClose = "</tool_call>";
  size_t pos = 0;
  std::string content;
  while (pos < text.size()) {
    const size_t open = text.find(kToolCallOpen, pos);
    if (open == std::string_view::npos) break;
    const size_t body = open + kToolCallOpen.size();
    size_t close = text.find(kClose, body);
    // A call cut off by max_tokens has no closing tag; take what is there if it parses.
    const size_t end = close == std::string_view::npos ? text.size() : close;
    auto j = json::parse(text.substr(body, end - body), nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("name") || !j["name"].is_string()) {
      content.append(text.substr(pos, body - pos));
      pos = body;
      continue;
    }
    content.append(text.substr(pos, open - pos));
    lm::ToolCall call{j["name"].get<std::string>(), "{}"};
    if (j.contains("arguments"))
      call.arguments_json =
          j["arguments"].is_string()
              ? j["arguments"].get<std::string>()
              : j["arguments"].dump(-1, ' ', false, json::error_handler_t::replace);
    out.tool_calls.push_back(std::move(call));
    pos = close == std::string_view::npos ? text.size() : close + kClose.size();
  }
  content.append(text.substr(std::min(pos, text.size())));
  // The newline chat.hpp puts between content and a call is formatting, not content.
  if (!out.tool_calls.empty())
    while (!content.empty() && (content.back() == '\n' || content.back() == ' '))
      content.pop_back();
  out.content = std::move(content);
  return out;
}

size_t find_stop(std::string_view text, const std::vector<std::string>& stops) {
  size_t best = std::string_view::npos;
  for (const auto& s : stops) {
    if (s.empty()) continue;
    best = std::min(best, text.find(s));
  }
  return best;
}

size_t safe_stream_length(std::string_view text, const std::vector<std::string>& holds) {
  size_t safe = text.size();
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  if (text.size() >= 3 && text.substr(text.size() - 3) == kReplacement) safe = text.size() - 3;
  // A partial UTF-8 sequence at the end (should the decoder hand one through).
  for (size_t back = 1; back <= 3 && back <= safe; ++back) {
    const auto c = static_cast<unsigned char>(text[safe - back]);
    if ((c & 0xC0) != 0x80) {
      const size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
      if (need > back) safe -= back;
      break;
    }
  }
  for (const auto& h : holds) {
    if (h.empty()) continue;
    const auto found = text.find(h);
    if (found != std::string_view::npos) safe = std::min(safe, found);
    for (size_t k = std::min(h.size() - 1, text.size()); k > 0; --k) {
      if (text.substr(text.size() - k) == std::string_view(h).substr(0, k)) {
        safe = std::min(safe, text.size() - k);
        break;
      }
    }
  }
  return safe;
}

}  // namespace llmops::serve
