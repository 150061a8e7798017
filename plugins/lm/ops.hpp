// Small tensor operations shared by the forward pass (llama.cpp), generation (generate.cpp) and
// batched decoding (batch.cpp), so that all three compute exactly the same values. Internal to
// plugins/lm.
#pragma once

#include <ATen/ATen.h>

#include "generation.hpp"

namespace llmops::lm::ops {

// RMSNorm in float32, returned in x's dtype.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps);
// The rotary embedding's half rotation: [-x2, x1].
at::Tensor rotate_half(const at::Tensor& x);
// The next token from one row of logits [V]: greedy at temperature 0, else temperature, top-k and
// top-p sampling with `gen`.
int64_t pick_token(const at::Tensor& logits, const GenerationOptions& opt, at::Generator& gen);

}  // namespace llmops::lm::ops
