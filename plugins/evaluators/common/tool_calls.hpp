// Reading tool calls back out of generated text. plugins/lm/chat.cpp renders an assistant tool
// call as
//     <tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>
// after the turn's content (each call on its own block, blocks separated by "\n"), so a model
// trained on that rendering answers the same way. parse_reply() finds every block, parses its
// JSON and returns {name, arguments}; the text outside the blocks is the reply's content.
// A reply is `valid` when it holds at least one block and every block is a JSON object with a
// string "name" and an object "arguments" (a string holding a JSON object is accepted too, as in
// OpenAI's wire format). A block without its closing tag (generation cut off) is invalid.
// Arguments compare as JSON values: key order and number spelling (1 vs 1.0) do not matter.
// Thread safety: free functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "sample.hpp"

namespace llmops::evaluators {

struct ParsedCall {
  std::string name;
  nlohmann::json arguments = nlohmann::json::object();
};

struct ParsedReply {
  std::string content;            // text outside the tool-call blocks, trimmed
  std::vector<ParsedCall> calls;  // the blocks that parsed
  int blocks = 0;                 // blocks found, parsed or not
  bool valid = false;             // blocks > 0 and every block parsed
  std::string error;              // why the first bad block is bad
};

ParsedReply parse_reply(std::string_view generated);

// The expected calls of a data set turn, arguments parsed (unparseable text stays a JSON string).
std::vector<ParsedCall> expected_calls(const Message& m);

bool same_arguments(const nlohmann::json& a, const nlohmann::json& b);
// Same number of calls, same names in order.
bool same_names(const std::vector<ParsedCall>& got, const std::vector<ParsedCall>& want);
// Same names and same arguments, in order.
bool same_calls(const std::vector<ParsedCall>& got, const std::vector<ParsedCall>& want);

}  // namespace llmops::evaluators
