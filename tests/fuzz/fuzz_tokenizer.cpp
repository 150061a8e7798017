// libFuzzer target for the tokenizer.json loader (plugins/lm/tokenizer*.cpp, torch-free, ICU):
// any bytes given as tokenizer.json must load or give an error (never a crash, a runaway
// recursion or an allocation far beyond the input); a tokenizer that loads must encode and decode
// a short text. The text is short on purpose: a backtracking Split pattern from the file is ICU's
// to run, and its cost grows with the text (see the timeout in run_fuzzers.sh).
//   see tests/fuzz/run_fuzzers.sh for the build command
#include <cstddef>
#include <cstdint>
#include <string>

#include "lm/tokenizer.hpp"

using namespace llmops::lm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto tok = Tokenizer::parse(text, "fuzz.json");
  if (!tok) return 0;
  const auto ids = tok->encode("Hi, y\xc3\xa9s 12!");
  (void)tok->decode(ids);
  (void)tok->decode({0, 1, 2, -1, int64_t{1} << 40}, /*skip_special_tokens=*/false);
  (void)tok->vocab_size();
  (void)tok->id_to_token(-5);
  (void)utf8_lossy(text.substr(0, 64));
  return 0;
}
