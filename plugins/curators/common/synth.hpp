// The deterministic generator behind curator/synthetic-tasks: OpenAI-chat conversations between
// users and the assistant of a task-management API, with realistic dirt injected in known amounts.
// The same options (seed included) always give the same bytes. The manifest counts every kind of
// dirt and says which curator/jsonl rejection reason each kind maps to, so tests can check exact
// counts. Clean conversations are kept mutually distinct: no exact duplicates and no pair whose
// MinHash estimate (curator defaults: 128 permutations, 16 bands, 5-word shingles) reaches
// `uniqueness_threshold`, so every duplicate the curator finds is one that was injected.
// Thread safety: generate() is reentrant.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "llmops/status.hpp"

namespace llmops::curators {

struct SynthOptions {
  uint64_t seed = 42;
  int64_t count = 1000;                       // lines written, dirt included
  std::string scenario = "base";              // base | production-shift
  std::string reference_date = "2024-06-03";  // "today" in the conversations (YYYY-MM-DD)
  bool system_prompt = true;
  double multi_turn_rate = 0.15;  // clean conversations with two exchanges
  double typo_rate = 0.05;        // user turns with one swapped-letter typo
  double new_intent_rate = 0.4;   // production-shift: share using the intents base lacks
  // Dirt, each a share of `count` (rounded to the nearest line).
  double exact_duplicate_rate = 0.03;
  double near_duplicate_rate = 0.03;
  double pii_rate = 0.05;
  double malformed_json_rate = 0.01;
  double invalid_utf8_rate = 0.01;
  double empty_turn_rate = 0.01;
  double wrong_order_rate = 0.01;
  double overlong_rate = 0.005;
  double off_topic_rate = 0.02;
  bool ensure_unique = true;  // keep clean conversations distinct (see above)
  double uniqueness_threshold = 0.7;
};

struct SynthResult {
  std::string manifest_json;  // counts per dirt kind, PII by type, intents, expected rejections
  int64_t lines = 0;
  int64_t bytes = 0;
};

// Writes `count` JSONL lines to `out`.
Result<SynthResult> generate_synthetic(const SynthOptions& opt, std::ostream& out);

// The function (tool) definitions the assistant uses, as an OpenAI `tools` JSON array.
std::string synthetic_tools_json(const std::string& scenario);

}  // namespace llmops::curators
