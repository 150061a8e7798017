// The tool-call parser reads back what plugins/lm/chat.cpp renders, and arguments compare as JSON.
#include <catch2/catch.hpp>

#include "tool_calls.hpp"

using namespace llmops::evaluators;
using nlohmann::json;

TEST_CASE("a rendered tool call parses back into name and arguments", "[evaluators][tool_calls]") {
  // Exactly chat.cpp's rendering of an assistant turn with one call.
  const auto r = parse_reply(
      "<tool_call>\n{\"name\":\"create_task\",\"arguments\":{\"title\":\"Buy milk\","
      "\"due_date\":\"2024-06-04\"}}\n</tool_call>");
  REQUIRE(r.valid);
  REQUIRE(r.blocks == 1);
  REQUIRE(r.calls.size() == 1);
  CHECK(r.calls[0].name == "create_task");
  CHECK(r.calls[0].arguments == json{{"title", "Buy milk"}, {"due_date", "2024-06-04"}});
  CHECK(r.content.empty());
  CHECK(r.error.empty());
}

TEST_CASE("content before calls, several calls and a trailing im_end", "[evaluators][tool_calls]") {
  const auto r = parse_reply(
      "Let me do both.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n"
      "<tool_call>\n{\"name\": \"b\", \"arguments\": \"{\\\"x\\\": 1}\"}\n</tool_call><|im_end|>");
  REQUIRE(r.valid);
  REQUIRE(r.calls.size() == 2);
  CHECK(r.calls[0].name == "a");
  CHECK(r.calls[1].name == "b");
  CHECK(r.calls[1].arguments == json{{"x", 1}});  // arguments given as a JSON string
  CHECK(r.content == "Let me do both.");
}

TEST_CASE("malformed tool calls are invalid and say why", "[evaluators][tool_calls]") {
  CHECK_FALSE(parse_reply("Sure, done!").valid);
  CHECK(parse_reply("Sure, done!").blocks == 0);
  CHECK(parse_reply("Sure, done!").content == "Sure, done!");
  auto bad_json = parse_reply("<tool_call>\n{\"name\": \"a\", \"arguments\": {\n</tool_call>");
  CHECK_FALSE(bad_json.valid);
  CHECK(bad_json.error.find("not valid JSON") != std::string::npos);
  auto no_name = parse_reply("<tool_call>\n{\"arguments\": {}}\n</tool_call>");
  CHECK_FALSE(no_name.valid);
  CHECK(no_name.error.find("name") != std::string::npos);
  auto args_array = parse_reply("<tool_call>{\"name\": \"a\", \"arguments\": [1]}</tool_call>");
  CHECK_FALSE(args_array.valid);
  auto cut = parse_reply("<tool_call>\n{\"name\": \"a\", \"argu");
  CHECK_FALSE(cut.valid);
  CHECK(cut.error.find("not closed") != std::string::npos);
  // One good block and one bad one: the reply as a whole is invalid.
  auto mixed = parse_reply(
      "<tool_call>{\"name\":\"a\",\"arguments\":{}}</tool_call><tool_call>oops</tool_call>");
  CHECK(mixed.blocks == 2);
  CHECK(mixed.calls.size() == 1);
  CHECK_FALSE(mixed.valid);
}

TEST_CASE("arguments compare as JSON values, not strings", "[evaluators][tool_calls]") {
  Message m{"assistant", "", {{"set_priority", R"({"task_id": "task_1", "priority": "high"})"}}};
  const auto want = expected_calls(m);
  auto got = parse_reply(
      "<tool_call>\n{\"name\": \"set_priority\", \"arguments\": {\"priority\": \"high\", "
      "\"task_id\": \"task_1\"}}\n</tool_call>");
  REQUIRE(got.valid);
  CHECK(same_calls(got.calls, want));  // different key order and spacing
  CHECK(same_arguments(json::parse(R"({"n": 1, "x": {"b": 2, "a": 1}})"),
                       json::parse(R"({"x": {"a": 1, "b": 2.0}, "n": 1.0})")));
  CHECK_FALSE(same_arguments(json::parse(R"({"n": 1})"), json::parse(R"({"n": "1"})")));
  auto other = parse_reply(
      "<tool_call>{\"name\": \"set_priority\", \"arguments\": {\"task_id\": \"task_1\", "
      "\"priority\": \"low\"}}</tool_call>");
  CHECK(same_names(other.calls, want));
  CHECK_FALSE(same_calls(other.calls, want));
  auto extra = parse_reply(
      "<tool_call>{\"name\": \"set_priority\", \"arguments\": {\"task_id\": \"task_1\", "
      "\"priority\": \"high\", \"note\": \"x\"}}</tool_call>");
  CHECK_FALSE(same_calls(extra.calls, want));
}
