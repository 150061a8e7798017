// The loops behind fused.cpp, on raw float rows: no ATen here, so the file compiles in a second,
// and each loop is built for AVX-512, AVX2 and the baseline, picked at run time (x86-64). Rows
// [begin, end) of contiguous row-major data; at::parallel_for hands out the ranges.
#pragma once

#include <cstdint>

namespace llmops::lm::kernels {

// RMSNorm of rows of H values: y = w * (x * rstd), rstd = 1 / sqrt(mean(x^2) + eps) (kept).
void rms_norm(const float* x, const float* w, float* y, float* rstd, int64_t H, float eps,
              int64_t begin, int64_t end);
// Its gradient: dx (when not null) and dw_acc += dy * x * rstd (when not null).
void rms_norm_grad(const float* x, const float* w, const float* rstd, const float* dy, float* dx,
                   float* dw_acc, int64_t H, int64_t begin, int64_t end);

// Rotary embedding over (b, t) pairs bt in [begin, end): x [B, T, n, D] -> y [B, n, T, D]
// (forward), or the gradient dy [B, n, T, D] -> dx [B, T, n, D] (grad = true). cos, sin
// [C, T, D] with C 1 or B.
void rope(const float* in, const float* cos, const float* sin, float* out, int64_t T, int64_t n,
          int64_t D, int64_t C, bool grad, int64_t begin, int64_t end);

// Causal softmax of score rows of S values; row r is query r % T of the last T positions. With
// `starts` (S == T; [B, T], rows of a sequence b are r / rows_per_seq == b), query t sees keys
// starts[b][t] .. t only: the keys before get probability 0.
void causal_softmax(const float* x, float* y, int64_t S, int64_t T, int64_t begin, int64_t end,
                    const int64_t* starts = nullptr, int64_t rows_per_seq = 0);
void causal_softmax_grad(const float* y, const float* dy, float* dx, int64_t S, int64_t T,
                         int64_t begin, int64_t end, const int64_t* starts = nullptr,
                         int64_t rows_per_seq = 0);

// Cross-entropy rows of V logits; rows whose label is negative are skipped (loss 0, gradient 0).
void cross_entropy(const float* x, const int64_t* labels, float* lse, double* loss, int64_t V,
                   int64_t begin, int64_t end);
// dx = scale * (softmax(x) - onehot(label)).
void cross_entropy_grad(const float* x, const int64_t* labels, const float* lse, float scale,
                        float* dx, int64_t V, int64_t begin, int64_t end);

}  // namespace llmops::lm::kernels
