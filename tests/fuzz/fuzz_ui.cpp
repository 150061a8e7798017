// libFuzzer target for the web UI's request layer (ui/http.cpp) and its big-DAG layout
// (ui/layout.cpp): any bytes as a query string or a %-encoded path must parse or be refused
// without a crash, and what parses holds no NUL and round-trips; any bytes as a graph (a cycle, a
// self-loop, an index out of range) must lay out with every column and row in range.
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_ui.cpp \
//     ui/http.cpp ui/layout.cpp
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "ui/http.hpp"
#include "ui/layout.hpp"

namespace {

std::string encode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace llmops::ui;
  if (size < 1) return 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0: {
      std::map<std::string, std::string> q;
      std::string bad;
      if (parse_query(text, q, bad)) {
        for (const auto& [k, v] : q) {
          if (k.find('\0') != std::string::npos || v.find('\0') != std::string::npos)
            __builtin_trap();
          // What parsed comes back the same through an encoder.
          std::map<std::string, std::string> again;
          std::string bad2;
          if (!parse_query(encode(k) + "=" + encode(v), again, bad2) || again.size() != 1 ||
              again.begin()->first != k || again.begin()->second != v)
            __builtin_trap();
        }
      }
      break;
    }
    case 1: {
      std::string out;
      if (percent_decode(text, out, false)) {
        if (out.find('\0') != std::string::npos || out.size() > text.size()) __builtin_trap();
        std::string back;
        if (!percent_decode(encode(out), back, false) || back != out) __builtin_trap();
      }
      break;
    }
    default: {
      // Bytes as (from, to) pairs over up to 64 nodes, out-of-range ones included.
      const int n = text.empty() ? 0 : static_cast<unsigned char>(text[0]) % 64;
      std::vector<std::pair<int, int>> edges;
      for (size_t i = 1; i + 1 < text.size(); i += 2)
        edges.emplace_back(static_cast<signed char>(text[i]),
                           static_cast<signed char>(text[i + 1]));
      const auto l = layer_layout(n, edges);
      if (static_cast<int>(l.level.size()) != n || static_cast<int>(l.order.size()) != n)
        __builtin_trap();
      for (int v = 0; v < n; ++v)
        if (l.level[v] < 0 || l.level[v] >= n || l.order[v] < 0 || l.order[v] >= n)
          __builtin_trap();
      break;
    }
  }
  return 0;
}
