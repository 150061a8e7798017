// Fused kernels for the decoder's elementwise work, each one pass forward and one pass backward
// with a hand-written gradient (torch::autograd::Function), instead of the half dozen ATen ops
// (and their saved tensors and autograd nodes) that the reference formulas take. Float32 only;
// other dtypes fall back to the reference formulas. Internal to plugins/lm: ops.hpp's rms_norm
// and rope are what the model calls.
#pragma once

#include <ATen/ATen.h>

namespace llmops::lm::fused {

// RMSNorm over the last dimension: w * (x / sqrt(mean(x^2) + eps)). x float32 [..., H], w [H].
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps);

// Rotary embedding of x [B, T, n, D] (a projection viewed per head), returned as [B, n, T, D]
// (contiguous): x * cos + rotate_half(x) * sin. cos, sin: float32 [C, T, D] with C 1 (every
// sequence at the same positions) or B (one row of positions per sequence); no gradient.
at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace llmops::lm::fused
