// libFuzzer target for the model server's request layer: parsing any bytes as a chat, completion,
// feedback or admin-load body, and parsing any model output for tool calls and stream hold-backs,
// must never crash, hang or throw. The first byte picks the parser.
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Iplugins \
//     -Iplugins/deployers/serve tests/fuzz/fuzz_serve_request.cpp plugins/deployers/serve/api.cpp
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
  switch (data[0] % 5) {
    case 0: {
      auto p = parse_chat_request(body, limits);
      if (p.error) {
        if (p.error->status < 400 || p.error->status > 499) __builtin_trap();
        (void)error_body(*p.error);
      } else {
        if (p.request.messages.empty() || p.request.max_tokens < 1 ||
            p.request.max_tokens > limits.max_tokens_cap)
          __builtin_trap();
        (void)with_tools_prompt(p.request.messages, p.request.tools);
      }
      break;
    }
    case 1: {
      auto p = parse_completion_request(body, limits);
      if (!p.error && p.request.prompt.empty()) __builtin_trap();
      break;
    }
    case 2:
      (void)parse_feedback_request(body);
      (void)parse_load_request(body);
      break;
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
