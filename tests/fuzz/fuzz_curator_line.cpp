// libFuzzer target for the curator's line parser and normaliser: any bytes must parse to a
// conversation or a rejection reason (never a crash, hang or leak), a parsed conversation must
// survive structure checks, PII redaction, dedup text and the quality rules, and its normalised
// JSONL must parse again to the same line.
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. -Iinclude \
//     -Iplugins/curators/common tests/fuzz/fuzz_curator_line.cpp \
//     plugins/curators/common/{text,conversation,quality,minhash}.cpp plugins/common/pii.cpp \
//     -o fuzz_curator_line
//   ./fuzz_curator_line -max_total_time=60 -max_len=4096
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "conversation.hpp"
#include "minhash.hpp"
#include "plugins/common/pii.hpp"
#include "quality.hpp"
#include "text.hpp"

using namespace llmops::curators;
using namespace llmops::common;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  static const MinHasher hasher(32, 5, 1);
  PiiCounts counts;
  // The scanners take any bytes, valid UTF-8 or not.
  (void)redact_pii(line, counts);
  (void)quality_check(line, QualityOptions{});
  (void)normalize_text(line);
  if (!valid_utf8(sanitize_utf8(line))) std::abort();

  auto r = parse_line(line);
  if (!r.ok) {
    if (!r.reason) std::abort();  // a rejection always names its reason
    return 0;
  }
  (void)check_structure(r.conv);
  for (auto& m : r.conv.messages) {
    m.content = redact_pii(m.content, counts);
    for (auto& t : m.tool_calls) t.arguments = redact_pii(t.arguments, counts);
  }
  std::vector<uint32_t> sig;
  hasher.signature(dedup_text(r.conv), sig);
  (void)quality_check(prose_text(r.conv), QualityOptions{});
  const std::string out = to_jsonl(r.conv);
  auto again = parse_line(out);
  if (!again.ok || to_jsonl(again.conv) != out) std::abort();  // normalising is idempotent
  return 0;
}
