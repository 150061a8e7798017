// Small tensor operations shared by the forward pass (llama.cpp), generation (generate.cpp) and
// batched decoding (batch.cpp), so that all three compute exactly the same values (with the
// kernels of fused.hpp). Internal to plugins/lm.
#pragma once

#include <ATen/ATen.h>

#include "generation.hpp"

namespace llmops::lm::ops {

// Rotary tables for positions [C, T] (float32), [C, T, head_dim] each: cos and sin for keys, and
// for queries the same times the attention scale 1/sqrt(head_dim) (exact when head_dim is a power
// of 4), so the scores need no pass of their own. For fused::rope.
struct RopeTables {
  at::Tensor cos, sin, cos_q, sin_q;
};
RopeTables rope_tables(const at::Tensor& inv_freq, const at::Tensor& positions);
// The next token from one row of logits [V]: greedy at temperature 0, else temperature, top-k and
// top-p sampling with `gen`.
int64_t pick_token(const at::Tensor& logits, const GenerationOptions& opt, at::Generator& gen);

}  // namespace llmops::lm::ops
