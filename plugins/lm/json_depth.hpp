// A bound on JSON nesting, checked before a recursive parser or copy sees hostile text
// (safetensors headers, tokenizer.json).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace llmops::lm {

// Where the nesting of arrays and objects in JSON `text` first goes past `limit` (a byte offset),
// or npos. Strings are skipped, escapes included; the text need not be valid JSON.
inline size_t json_too_deep(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return i;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return std::string::npos;
}

}  // namespace llmops::lm
