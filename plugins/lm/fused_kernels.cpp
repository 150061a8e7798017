// See fused_kernels.hpp. Compiled with -ffp-contract=off (no FMA contraction: products and sums
// round exactly as ATen's separate operations do), -fopenmp-simd (the `omp simd` loops vectorise
// without the OpenMP runtime) and -fno-trapping-math (comparisons become selects).
#include "fused_kernels.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LLMOPS_KERNEL __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define LLMOPS_KERNEL
#endif

namespace llmops::lm::kernels {

namespace {

// exp(x) in plain arithmetic, so that `omp simd` loops vectorise it (no libm call): Cephes'
// single-precision polynomial, relative error about 1e-7; x is clamped to [-87.3, 88] (NaN
// stays NaN). No comparison but the clamps, which GCC turns into min/max at any vector width.
inline float vexp(float x) {
  x = std::max(x, -87.33654f);
  x = std::min(x, 88.0f);
  // floor(x * log2(e) + 0.5) by truncating a positive number: x * log2(e) + 0.5 > -126.
  const int n = static_cast<int>(x * 1.44269504088896341f + 128.5f) - 128;
  const float fn = static_cast<float>(n);
  const float r = (x - fn * 0.693359375f) - fn * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * std::bit_cast<float>((n + 127) << 23);  // p * 2^n
}

inline float row_max(const float* x, int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < n; ++j) m = std::max(m, x[j]);
  return m;
}

}  // namespace

LLMOPS_KERNEL void rms_norm(const float* x, const float* w, float* y, float* rstd, int64_t H,
                            float eps, int64_t begin, int64_t end) {
  const float fh = static_cast<float>(H);
  for (int64_t r = begin; r < end; ++r) {
    const float* xr = x + r * H;
    float ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int64_t j = 0; j < H; ++j) ss += xr[j] * xr[j];
    const float rs = 1.0f / std::sqrt(ss / fh + eps);
    rstd[r] = rs;
    float* yr = y + r * H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) yr[j] = w[j] * (xr[j] * rs);
  }
}

LLMOPS_KERNEL void rms_norm_grad(const float* x, const float* w, const float* rstd, const float* dy,
                                 float* dx, float* dw_acc, int64_t H, int64_t begin, int64_t end) {
  const float fh = static_cast<float>(H);
  for (int64_t r = begin; r < end; ++r) {
    const float* xr = x + r * H;
    const float* gr = dy + r * H;
    const float rs = rstd[r];
    if (dx) {
      // dx = rs * (w * dy - x * rs^2 * mean(w * dy * x))
      float dot = 0;
#pragma omp simd reduction(+ : dot)
      for (int64_t j = 0; j < H; ++j) dot += w[j] * gr[j] * xr[j];
      const float c = rs * rs * dot / fh;
      float* dr = dx + r * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) dr[j] = rs * (w[j] * gr[j] - xr[j] * c);
    }
    if (dw_acc) {
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) dw_acc[j] += gr[j] * (xr[j] * rs);
    }
  }
}

LLMOPS_KERNEL void rope(const float* in, const float* cos, const float* sin, float* out, int64_t T,
                        int64_t n, int64_t D, int64_t C, bool grad, int64_t begin, int64_t end) {
  const int64_t half = D / 2;
  for (int64_t bt = begin; bt < end; ++bt) {
    const int64_t b = bt / T, t = bt % T;
    const float* c = cos + ((C == 1 ? 0 : b) * T + t) * D;
    const float* s = sin + ((C == 1 ? 0 : b) * T + t) * D;
    for (int64_t h = 0; h < n; ++h) {
      const int64_t flat = (bt * n + h) * D, heads = ((b * n + h) * T + t) * D;
      if (!grad) {
        // y = x * cos + rotate_half(x) * sin, rotate_half(x) = [-x2, x1]
        const float* x = in + flat;
        float* y = out + heads;
#pragma omp simd
        for (int64_t i = 0; i < half; ++i) {
          y[i] = x[i] * c[i] + -x[i + half] * s[i];
          y[i + half] = x[i + half] * c[i + half] + x[i] * s[i + half];
        }
      } else {
        const float* g = in + heads;
        float* dx = out + flat;
#pragma omp simd
        for (int64_t i = 0; i < half; ++i) {
          dx[i] = g[i] * c[i] + g[i + half] * s[i + half];
          dx[i + half] = g[i + half] * c[i + half] + -g[i] * s[i];
        }
      }
    }
  }
}

namespace {
// The first key query row r sees: 0, or its segment's start.
inline int64_t first_key(int64_t r, int64_t T, const int64_t* starts, int64_t rows_per_seq) {
  return starts ? starts[(r / rows_per_seq) * T + r % T] : 0;
}
}  // namespace

LLMOPS_KERNEL void causal_softmax(const float* x, float* y, int64_t S, int64_t T, int64_t begin,
                                  int64_t end, const int64_t* starts, int64_t rows_per_seq) {
  for (int64_t r = begin; r < end; ++r) {
    const float* xr = x + r * S;
    float* yr = y + r * S;
    const int64_t n = S - T + r % T + 1;  // keys 0 .. n - 1 are before or at this query
    const int64_t j0 = first_key(r, T, starts, rows_per_seq);
    const float m = row_max(xr + j0, n - j0);
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = j0; j < n; ++j) {
      yr[j] = vexp(xr[j] - m);
      sum += yr[j];
    }
    const float inv = 1.0f / sum;
#pragma omp simd
    for (int64_t j = j0; j < n; ++j) yr[j] *= inv;
    std::fill(yr, yr + j0, 0.0f);
    std::fill(yr + n, yr + S, 0.0f);
  }
}

LLMOPS_KERNEL void causal_softmax_grad(const float* y, const float* dy, float* dx, int64_t S,
                                       int64_t T, int64_t begin, int64_t end, const int64_t* starts,
                                       int64_t rows_per_seq) {
  for (int64_t r = begin; r < end; ++r) {
    const float* yr = y + r * S;
    const float* gr = dy + r * S;
    float* dr = dx + r * S;
    const int64_t n = S - T + r % T + 1;
    const int64_t j0 = first_key(r, T, starts, rows_per_seq);
    float dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = j0; j < n; ++j) dot += yr[j] * gr[j];
#pragma omp simd
    for (int64_t j = j0; j < n; ++j) dr[j] = yr[j] * (gr[j] - dot);
    std::fill(dr, dr + j0, 0.0f);
    std::fill(dr + n, dr + S, 0.0f);
  }
}

LLMOPS_KERNEL void cross_entropy(const float* x, const int64_t* labels, float* lse, double* loss,
                                 int64_t V, int64_t begin, int64_t end) {
  for (int64_t r = begin; r < end; ++r) {
    loss[r] = 0;
    if (labels[r] < 0) continue;
    const float* xr = x + r * V;
    const float m = row_max(xr, V);
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < V; ++j) sum += vexp(xr[j] - m);
    lse[r] = m + std::log(sum);
    loss[r] = static_cast<double>(lse[r]) - static_cast<double>(xr[labels[r]]);
  }
}

LLMOPS_KERNEL void cross_entropy_grad(const float* x, const int64_t* labels, const float* lse,
                                      float scale, float* dx, int64_t V, int64_t begin,
                                      int64_t end) {
  for (int64_t r = begin; r < end; ++r) {
    float* dr = dx + r * V;
    if (labels[r] < 0) {
      std::fill(dr, dr + V, 0.0f);
      continue;
    }
    const float* xr = x + r * V;
    const float l = lse[r];
#pragma omp simd
    for (int64_t j = 0; j < V; ++j) dr[j] = scale * vexp(xr[j] - l);
    dr[labels[r]] -= scale;
  }
}

}  // namespace llmops::lm::kernels
