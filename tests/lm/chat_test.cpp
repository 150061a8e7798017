// ChatML rendering, tool calls, and the assistant-only loss mask.
#include <catch2/catch.hpp>

#include <algorithm>

#include "lm/chat.hpp"
#include "lm_test_util.hpp"

using namespace llmops::lm;

TEST_CASE("ChatML renders roles and tool calls", "[lm][chat]") {
  std::vector<ChatMessage> msgs = {{"system", "You manage tasks.", {}},
                                   {"user", "Add milk", {}},
                                   {"assistant", "", {{"create_task", R"({"title": "Buy milk"})"}}},
                                   {"tool", R"({"id": 7})", {}},
                                   {"assistant", "Done.", {}}};
  CHECK(render_chatml(msgs, true) ==
        "<|im_start|>system\nYou manage tasks.<|im_end|>\n"
        "<|im_start|>user\nAdd milk<|im_end|>\n"
        "<|im_start|>assistant\n<tool_call>\n{\"name\":\"create_task\","
        "\"arguments\":{\"title\":\"Buy milk\"}}\n</tool_call><|im_end|>\n"
        "<|im_start|>tool\n{\"id\": 7}<|im_end|>\n"
        "<|im_start|>assistant\nDone.<|im_end|>\n"
        "<|im_start|>assistant\n");
}

TEST_CASE("the loss mask covers exactly the assistant's tokens", "[lm][chat]") {
  auto tok = Tokenizer::load(hf_fixture("tokenizer-bpe") / "tokenizer.json");
  REQUIRE(tok.is_ok());
  std::vector<ChatMessage> msgs = {{"user", "list my tasks", {}},
                                   {"assistant", "You have 2 tasks.", {}}};
  auto enc = encode_chatml(*tok, msgs);
  REQUIRE(enc.is_ok());
  REQUIRE(enc->ids.size() == enc->loss_mask.size());
  CHECK(tok->decode(enc->ids, false) == render_chatml(msgs));
  std::vector<int64_t> masked;
  for (size_t i = 0; i < enc->ids.size(); ++i)
    if (enc->loss_mask[i]) masked.push_back(enc->ids[i]);
  CHECK(tok->decode(masked, false) == "You have 2 tasks.<|im_end|>");
  CHECK(masked.back() == *tok->token_to_id("<|im_end|>"));
}

TEST_CASE("tool-call argument values are marked 2 in the loss mask", "[lm][chat]") {
  auto tok = Tokenizer::load(hf_fixture("tokenizer-bpe") / "tokenizer.json");
  REQUIRE(tok.is_ok());
  std::vector<ChatMessage> msgs = {
      {"user", "Assign task_8397 to Olga", {}},
      {"assistant",
       "",
       {{"assign_task", R"({"task_id": "task_8397", "assignee": "Olga", "day": 4})"},
        {"list_tasks", "{}"}}}};
  auto enc = encode_chatml(*tok, msgs);
  REQUIRE(enc.is_ok());
  REQUIRE(enc->ids.size() == enc->loss_mask.size());
  // The tokens are the whole text's, whatever the marks.
  CHECK(enc->ids == tok->encode(render_chatml(msgs), false));
  std::string values, targets;  // values: each marked run, then "|"
  for (size_t i = 0; i < enc->ids.size(); ++i) {
    if (enc->loss_mask[i] == 2) values += tok->decode({enc->ids[i]}, false);
    if (enc->loss_mask[i] == 2 && (i + 1 == enc->ids.size() || enc->loss_mask[i + 1] != 2))
      values += "|";
    if (enc->loss_mask[i]) targets += tok->decode({enc->ids[i]}, false);
  }
  CHECK(values == "task_8397|Olga|4|");  // not the function's name, the keys or the quotes
  CHECK(targets ==
        "<tool_call>\n{\"name\":\"assign_task\",\"arguments\":{\"task_id\":\"task_8397\","
        "\"assignee\":\"Olga\",\"day\":4}}\n</tool_call>\n<tool_call>\n{\"name\":\"list_tasks\","
        "\"arguments\":{}}\n</tool_call><|im_end|>");
  // Malformed arguments are kept verbatim and have no values.
  std::vector<ChatMessage> bad = {{"assistant", "", {{"f", "{not json"}}}};
  auto b = encode_chatml(*tok, bad);
  REQUIRE(b.is_ok());
  CHECK(std::count(b->loss_mask.begin(), b->loss_mask.end(), 2) == 0);
  CHECK(b->ids == tok->encode(render_chatml(bad), false));
}

TEST_CASE("OpenAI-style messages parse, bad ones are refused", "[lm][chat]") {
  auto m = parse_chat_messages(R"([{"role": "user", "content": "hi"},
      {"role": "assistant", "content": null, "tool_calls": [{"type": "function",
       "function": {"name": "list_tasks", "arguments": "{\"done\": false}"}}]}])");
  REQUIRE(m.is_ok());
  REQUIRE(m->size() == 2);
  CHECK((*m)[1].tool_calls.at(0).name == "list_tasks");
  CHECK((*m)[1].tool_calls.at(0).arguments_json == R"({"done": false})");
  CHECK_FALSE(parse_chat_messages(R"([{"content": "no role"}])").is_ok());
  CHECK_FALSE(parse_chat_messages("not json").is_ok());
  auto tok = Tokenizer::load(hf_fixture("tokenizer-bpe") / "tokenizer.json");
  CHECK_FALSE(encode_chatml(*tok, {{"user", "x", {{"f", "{}"}}}}).is_ok());
}
