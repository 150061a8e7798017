// Generation options shared by the model facade, the trainer's samples and the model server.
// Torch-free. temperature 0 means greedy; otherwise tokens are sampled from softmax(logits / T)
// restricted to the smallest set whose probability reaches top_p, with a seeded generator, so the
// same seed gives the same tokens. Generation stops after max_new_tokens or at a stop token (which
// is kept in the output, as Hugging Face does).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace llmops::lm {

struct GenerationOptions {
  int64_t max_new_tokens = 32;
  double temperature = 0.0;
  double top_p = 1.0;
  int64_t top_k = 0;  // 0: off
  uint64_t seed = 0;
  std::vector<int64_t> stop_tokens;
  // Called with each new token; return false to stop early (a client hung up, a step was
  // cancelled).
  std::function<bool(int64_t)> on_token;
};

}  // namespace llmops::lm
