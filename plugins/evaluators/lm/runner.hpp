// The model side of evaluator/lm: loads a Hugging Face model folder through the torch-free
// lm::Model facade and, for every sample, measures the loss over the assistant tokens of the whole
// conversation and greedily generates the target turn from the ChatML prompt before it. Scoring
// and aggregation are the torch-free common library's job (metrics.hpp).
// Thread safety: one evaluation per call; nothing shared.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "llmops/status.hpp"
#include "metrics.hpp"
#include "sample.hpp"

namespace llmops::evaluators {

struct RunOptions {
  int64_t max_new_tokens = 128;
  // Map token ids the model does not have to id % vocab instead of failing. Only for test
  // models whose vocabulary is smaller than the tokenizer's.
  bool clamp_token_ids = false;
  std::function<bool()> cancelled = [] { return false; };
  std::function<void(size_t done, size_t total)> progress = [](size_t, size_t) {};
};

// The tokenizer.json to use for a model: `explicit_path` (a file, or a folder holding
// tokenizer.json) when given, else the model folder's own tokenizer.json.
Result<std::filesystem::path> find_tokenizer(const std::filesystem::path& model_dir,
                                             const std::filesystem::path& explicit_path);

// Fills, per sample, nll / loss_tokens / generated / generated_tokens / seconds (not the scores).
Result<std::vector<SampleOutcome>> run_model(const std::filesystem::path& model_dir,
                                             const std::filesystem::path& tokenizer_json,
                                             const std::vector<Sample>& samples,
                                             const RunOptions& options);

}  // namespace llmops::evaluators
