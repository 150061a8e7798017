// libFuzzer target for the model server's request layer: parsing any bytes as a chat, completion,
// feedback or admin-load body, and parsing any model output for tool calls and stream hold-backs,
// must never crash, hang or throw, and what parses stays within the limits (nesting depth,
// messages, tools, stop strings, names); reading an Authorization header value must give a
// token inside it or nothing. The first byte picks the parser (and, for bodies, a nesting limit).
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Iplugins \
//     -Iplugins/deployers/serve tests/fuzz/fuzz_serve_request.cpp plugins/deployers/serve/api.cpp
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace llmops::serve;
  if (size < 1) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  RequestLimits limits;
  // Small nesting limits too (1..8 or the default), so that the depth check is hit often.
  if (data[0] & 0x80) limits.max_json_depth = 1 + (data[0] >> 4 & 7);
  const bool within_depth = json_depth(body, limits.max_json_depth) <= limits.max_json_depth;
  switch (data[0] % 7) {
    case 0: {
      auto p = parse_chat_request(body, limits);
      if (p.error) {
        if (p.error->status < 400 || p.error->status > 499) __builtin_trap();
        (void)error_body(*p.error);
      } else {
        const auto& r = p.request;
        if (!within_depth || r.messages.empty() || r.messages.size() > limits.max_messages ||
            r.max_tokens < 1 || r.max_tokens > limits.max_tokens_cap ||
            r.tools.size() > limits.max_tools || r.stop.size() > limits.max_stop ||
            r.model.size() > limits.max_name_bytes)
          __builtin_trap();
        for (const auto& s : r.stop)
          if (s.empty() || s.size() > limits.max_stop_bytes) __builtin_trap();
        for (const auto& t : r.tools)
          if (t.name.empty() || t.name.size() > limits.max_name_bytes) __builtin_trap();
        (void)with_tools_prompt(r.messages, r.tools);
      }
      break;
    }
    case 1: {
      auto p = parse_completion_request(body, limits);
      if (!p.error && (p.request.prompt.empty() || !within_depth)) __builtin_trap();
      break;
    }
    case 2: {
      auto f = parse_feedback_request(body, limits.max_json_depth);
      if (!f.error && !within_depth) __builtin_trap();
      auto l = parse_load_request(body, limits.max_json_depth);
      if (!l.error && !within_depth) __builtin_trap();
      break;
    }
    case 5: {
      // json_depth stops counting just past its limit, and agrees with itself below it.
      const int d = json_depth(body, 1 << 30);
      if (d < 0 || static_cast<size_t>(d) > body.size()) __builtin_trap();
      if (json_depth(body, limits.max_json_depth) != std::min(d, limits.max_json_depth + 1))
        __builtin_trap();
      break;
    }
    case 6: {
      const auto t = bearer_token(body);
      if (t) {
        if (t->empty() || t->data() < body.data() ||
            t->data() + t->size() > body.data() + body.size())
          __builtin_trap();
        if (std::find_if(t->begin(), t->end(), [](char c) { return c == ' ' || c == '\t'; }) !=
            t->end())
          __builtin_trap();
      }
      break;
    }
    case 3: {
      auto out = parse_tool_calls(body);
      if (out.content.size() > body.size()) __builtin_trap();
      break;
    }
    default: {
      const std::vector<std::string> holds{"END", "<tool_call>", "\n\n"};
      if (safe_stream_length(body, holds) > body.size()) __builtin_trap();
      (void)find_stop(body, holds);
      break;
    }
  }
  return 0;
}
