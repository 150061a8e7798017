// Small tensor operations shared by the forward pass (llama.cpp), generation (generate.cpp) and
// batched decoding (batch.cpp), so that all three compute exactly the same values. Internal to
// plugins/lm.
#pragma once

#include <ATen/ATen.h>

#include <utility>

#include "generation.hpp"

namespace llmops::lm::ops {

// RMSNorm in float32, returned in x's dtype (fused::rms_norm for float32).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps);
// Rotary tables for positions [C, T] (float32): cos and sin, [C, T, head_dim], in float32.
std::pair<at::Tensor, at::Tensor> rope_tables(const at::Tensor& inv_freq,
                                              const at::Tensor& positions);
// x [B, T, heads, head_dim] (a projection viewed per head) -> [B, heads, T, head_dim]:
// x * cos + rotate_half(x) * sin, with tables from rope_tables (times the attention scale for
// queries, which saves scaling the scores).
at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);
// Attention probabilities from scores [B, heads, T, S], causal (query t of the last T positions
// sees keys up to S - T + t), in float32.
at::Tensor causal_softmax(const at::Tensor& scores);
// The next token from one row of logits [V]: greedy at temperature 0, else temperature, top-k and
// top-p sampling with `gen`.
int64_t pick_token(const at::Tensor& logits, const GenerationOptions& opt, at::Generator& gen);

}  // namespace llmops::lm::ops
