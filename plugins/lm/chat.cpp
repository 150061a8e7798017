// ChatML rendering, masked tokenisation and message parsing; see chat.hpp.
#include "chat.hpp"

#include <nlohmann/json.hpp>

namespace llmops::lm {
namespace {

using nlohmann::json;

// The assistant's part of a turn: content, then each tool call, then the end marker.
std::string assistant_body(const ChatMessage& m) {
  std::string s = m.content;
  for (const auto& call : m.tool_calls) {
    // ordered_json keeps "name" first and the arguments' own key order, as chat templates do.
    auto args = nlohmann::ordered_json::parse(call.arguments_json, nullptr, false);
    if (args.is_discarded()) args = call.arguments_json;  // keep malformed arguments verbatim
    nlohmann::ordered_json j;
    j["name"] = call.name;
    j["arguments"] = args;
    if (!s.empty()) s += "\n";
    s += "<tool_call>\n" + j.dump() + "\n</tool_call>";
  }
  return s + "<|im_end|>";
}

}  // namespace

std::string render_chatml(const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  std::string out;
  for (const auto& m : messages) {
    out += "<|im_start|>" + m.role + "\n";
    out += (m.role == "assistant" ? assistant_body(m) : m.content + "<|im_end|>") + "\n";
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

Result<ChatEncoding> encode_chatml(const Tokenizer& tok, const std::vector<ChatMessage>& messages,
                                   bool add_generation_prompt) {
  if (!tok.token_to_id("<|im_start|>") || !tok.token_to_id("<|im_end|>"))
    return Status::invalid("the tokenizer has no <|im_start|>/<|im_end|> tokens for ChatML");
  ChatEncoding enc;
  auto add = [&](const std::string& text, uint8_t mask) {
    auto ids = tok.encode(text, /*add_special_tokens=*/false);
    enc.ids.insert(enc.ids.end(), ids.begin(), ids.end());
    enc.loss_mask.insert(enc.loss_mask.end(), ids.size(), mask);
  };
  for (const auto& m : messages) {
    if (m.role.empty()) return Status::invalid("a chat message has no role");
    if (!m.tool_calls.empty() && m.role != "assistant")
      return Status::invalid("only assistant messages may have tool calls");
    add("<|im_start|>" + m.role + "\n", 0);
    if (m.role == "assistant") {
      add(assistant_body(m), 1);
    } else {
      add(m.content + "<|im_end|>", 0);
    }
    add("\n", 0);
  }
  if (add_generation_prompt) add("<|im_start|>assistant\n", 0);
  return enc;
}

Result<std::vector<ChatMessage>> parse_chat_messages(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_object() && j.contains("messages")) j = j["messages"];
  if (!j.is_array()) return Status::invalid("chat messages must be a JSON array of objects");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& m = j[i];
    const std::string where = "message " + std::to_string(i) + ": ";
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      return Status::invalid(where + "needs a string \"role\"");
    ChatMessage msg;
    msg.role = m["role"].get<std::string>();
    if (m.contains("content") && m["content"].is_string())
      msg.content = m["content"];
    else if (m.contains("content") && !m["content"].is_null())
      return Status::invalid(where + "\"content\" must be a string or null");
    if (m.contains("tool_calls") && m["tool_calls"].is_array()) {
      for (const auto& c : m["tool_calls"]) {
        const json& f = c.contains("function") ? c["function"] : c;
        if (!f.contains("name") || !f["name"].is_string())
          return Status::invalid(where + "a tool call needs a function name");
        ToolCall call{f["name"].get<std::string>(), "{}"};
        if (f.contains("arguments"))
          call.arguments_json = f["arguments"].is_string() ? f["arguments"].get<std::string>()
                                                           : f["arguments"].dump();
        msg.tool_calls.push_back(std::move(call));
      }
    }
    out.push_back(std::move(msg));
  }
  return out;
}

}  // namespace llmops::lm
