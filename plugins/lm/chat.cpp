// ChatML rendering, masked tokenisation and message parsing; see chat.hpp.
#include "chat.hpp"

#include <nlohmann/json.hpp>

namespace llmops::lm {
namespace {

using nlohmann::json;

// The assistant's part of a turn as pieces whose concatenation is the text: content, then each
// tool call, then the end marker. A piece marked `value` is one argument's value as JSON (a
// string's without its quotes).
struct Piece {
  std::string text;
  bool value = false;
};

std::vector<Piece> assistant_pieces(const ChatMessage& m) {
  std::vector<Piece> out{{m.content}};
  auto add = [&](std::string text, bool value = false) {
    if (!value && !out.empty() && !out.back().value)
      out.back().text += text;
    else
      out.push_back({std::move(text), value});
  };
  for (const auto& call : m.tool_calls) {
    // ordered_json keeps "name" first and the arguments' own key order, as chat templates do;
    // the pieces are what ordered_json{name, arguments}.dump() writes.
    auto args = nlohmann::ordered_json::parse(call.arguments_json, nullptr, false);
    if (args.is_discarded()) args = call.arguments_json;  // keep malformed arguments verbatim
    if (!m.content.empty() || &call != &m.tool_calls.front()) add("\n");
    add("<tool_call>\n{\"name\":" + nlohmann::ordered_json(call.name).dump() + ",\"arguments\":");
    if (args.is_object() && !args.empty()) {
      const char* sep = "{";
      for (const auto& [key, value] : args.items()) {
        // A string's quotes go with the punctuation around them (`":"` is one pre-token).
        const auto text = value.dump();
        const size_t q = value.is_string() ? 1 : 0;
        add(sep + nlohmann::ordered_json(key).dump() + ":" + text.substr(0, q));
        add(text.substr(q, text.size() - 2 * q), true);
        if (q) add("\"");
        sep = ",";
      }
      add("}");
    } else {
      add(args.dump());
    }
    add("}\n</tool_call>");
  }
  add("<|im_end|>");
  return out;
}

std::string assistant_body(const ChatMessage& m) {
  std::string s;
  for (const auto& p : assistant_pieces(m)) s += p.text;
  return s;
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
      // Argument values get mask 2 when encoding piece by piece gives the same tokens as the
      // whole text (their edges are pre-token edges: after `":"` and before `","` or `"}`).
      const auto pieces = assistant_pieces(m);
      std::vector<int64_t> ids;
      std::vector<uint8_t> mask;
      std::string whole;
      for (const auto& p : pieces) {
        auto part = tok.encode(p.text, /*add_special_tokens=*/false);
        ids.insert(ids.end(), part.begin(), part.end());
        mask.insert(mask.end(), part.size(), p.value ? 2 : 1);
        whole += p.text;
      }
      auto all = tok.encode(whole, /*add_special_tokens=*/false);
      if (all != ids) mask.assign(all.size(), 1);
      enc.ids.insert(enc.ids.end(), all.begin(), all.end());
      enc.loss_mask.insert(enc.loss_mask.end(), mask.begin(), mask.end());
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
