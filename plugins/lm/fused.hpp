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

// Softmax over the last dimension of attention scores [..., T, S] with the causal mask built in:
// query t (of the last T of S positions) sees keys 0 .. S - T + t; the rest get probability 0
// and are never exponentiated.
// With `starts` (int64 [B, T], scores [B, heads, T, T]), query t of sequence b sees only keys
// starts[b][t] .. t: several documents packed in one row do not attend to each other.
at::Tensor causal_softmax(const at::Tensor& scores, const at::Tensor& starts = {});

// Cross-entropy of logits [N, V] against labels [N] (-100: ignored), summed, or averaged over
// the labels not ignored (NaN when all are). Keeps one number per row for the backward pass
// instead of the [N, V] log-probabilities.
at::Tensor cross_entropy(const at::Tensor& logits, const at::Tensor& labels, bool mean);

}  // namespace llmops::lm::fused
