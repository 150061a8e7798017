// The model's own perplexity on prompts (rendered as one ChatML user turn each, mean next-token
// loss over the whole text), for monitor/drift's "live prompts vs reference prompts" signal. Uses
// the torch-free plugins/lm facade; only built when plugins/lm is (LLMOPS_MONITOR_HAVE_LM).
// Thread safety: reentrant.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "llmops/status.hpp"

namespace llmops::monitor {

struct PerplexityResult {
  double live = 0, reference = 0;
  int64_t live_prompts = 0, reference_prompts = 0;
};

// Loads the model (and `tokenizer`, or the model folder's tokenizer.json) once and scores both
// prompt lists (each capped at `max_prompts`).
Result<PerplexityResult> prompt_perplexity(const std::filesystem::path& model_dir,
                                           const std::filesystem::path& tokenizer,
                                           const std::vector<std::string>& live,
                                           const std::vector<std::string>& reference,
                                           size_t max_prompts);

}  // namespace llmops::monitor
