// ChatML conversations (<|im_start|>role\n...<|im_end|>\n), as Qwen and many fine-tunes use:
// rendering to text, tokenising with a loss mask that counts only what the assistant says (its
// content, tool calls and closing <|im_end|>), and parsing OpenAI-style message JSON. Tool calls
// render as <tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call> inside the assistant turn;
// tool results are turns of role "tool". Torch-free.
// Thread safety: plain values and free functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "llmops/status.hpp"
#include "tokenizer.hpp"

namespace llmops::lm {

struct ToolCall {
  std::string name;
  std::string arguments_json = "{}";  // a JSON object as text
};

struct ChatMessage {
  std::string role;  // system | user | assistant | tool
  std::string content;
  std::vector<ToolCall> tool_calls;  // assistant only
};

struct ChatEncoding {
  std::vector<int64_t> ids;
  // 1 where the token is a training target (assistant output), 2 where it is also part of a
  // tool-call argument's value (what a tool call must copy or look up right).
  std::vector<uint8_t> loss_mask;
};

// The whole conversation as text; with add_generation_prompt, ends with "<|im_start|>assistant\n".
std::string render_chatml(const std::vector<ChatMessage>& messages,
                          bool add_generation_prompt = false);

// Tokenises turn by turn so the mask boundaries are exact. The tokenizer must know <|im_start|>
// and <|im_end|> as added tokens.
Result<ChatEncoding> encode_chatml(const Tokenizer& tokenizer,
                                   const std::vector<ChatMessage>& messages,
                                   bool add_generation_prompt = false);

// [{"role": "user", "content": "..."}, {"role": "assistant", "content": null,
//   "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{...}"}}]}]
Result<std::vector<ChatMessage>> parse_chat_messages(const std::string& json_text);

}  // namespace llmops::lm
