// Fused kernels: see fused.hpp. Plain loops over contiguous float rows, split across the intra-op
// threads with at::parallel_for. Compiled with -ffp-contract=off: every product and sum is
// rounded exactly as the reference ATen formulas round it (the rotary embedding is bit-identical
// to x * cos + rotate_half(x) * sin), so batched decoding and the forward pass agree.
#include "fused.hpp"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <vector>

namespace llmops::lm::fused {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

int64_t grain(int64_t row) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, row));
}

struct RmsNormFn : torch::autograd::Function<RmsNormFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x_in, const at::Tensor& w_in,
                            double eps) {
    const auto x = x_in.contiguous();
    const auto w = w_in.contiguous();
    const int64_t H = x.size(-1), N = x.numel() / H;
    auto y = at::empty_like(x);
    auto rstd = at::empty({N}, x.options());
    const float* xp = x.data_ptr<float>();
    const float* wp = w.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    float* rp = rstd.data_ptr<float>();
    const float feps = static_cast<float>(eps), fh = static_cast<float>(H);
    at::parallel_for(0, N, grain(H), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const float* xr = xp + r * H;
        float ss = 0;
#pragma omp simd reduction(+ : ss)
        for (int64_t j = 0; j < H; ++j) ss += xr[j] * xr[j];
        const float rs = 1.0f / std::sqrt(ss / fh + feps);
        rp[r] = rs;
        float* yr = yp + r * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) yr[j] = wp[j] * (xr[j] * rs);
      }
    });
    ctx->save_for_backward({x, w, rstd});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &w = saved[1], &rstd = saved[2];
    const auto dy = grads[0].contiguous();
    const int64_t H = x.size(-1), N = x.numel() / H;
    const bool want_x = ctx->needs_input_grad(0), want_w = ctx->needs_input_grad(1);
    at::Tensor dx = want_x ? at::empty_like(x) : at::Tensor();
    // dw sums over rows: one partial row per thread, added up at the end.
    const int threads = at::get_num_threads();
    at::Tensor partial = want_w ? at::zeros({threads, H}, x.options()) : at::Tensor();
    const float* xp = x.data_ptr<float>();
    const float* wp = w.data_ptr<float>();
    const float* rp = rstd.data_ptr<float>();
    const float* gp = dy.data_ptr<float>();
    float* dxp = want_x ? dx.data_ptr<float>() : nullptr;
    float* pp = want_w ? partial.data_ptr<float>() : nullptr;
    const float fh = static_cast<float>(H);
    at::parallel_for(0, N, grain(H), [&](int64_t begin, int64_t end) {
      float* acc = pp ? pp + std::min(at::get_thread_num(), threads - 1) * H : nullptr;
      for (int64_t r = begin; r < end; ++r) {
        const float* xr = xp + r * H;
        const float* gr = gp + r * H;
        const float rs = rp[r];
        if (dxp) {
          // dx = rs * (w * dy - x * rs^2 * mean(w * dy * x))
          float dot = 0;
#pragma omp simd reduction(+ : dot)
          for (int64_t j = 0; j < H; ++j) dot += wp[j] * gr[j] * xr[j];
          const float c = rs * rs * dot / fh;
          float* dr = dxp + r * H;
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) dr[j] = rs * (wp[j] * gr[j] - xr[j] * c);
        }
        if (acc) {
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) acc[j] += gr[j] * (xr[j] * rs);
        }
      }
    });
    at::Tensor dw = want_w ? partial.sum(0) : at::Tensor();
    return {dx, dw, at::Tensor()};
  }
};

// y = x * c + rotate_half(x) * s for one head row of D values; the backward pass is the same
// loop with the rotation transposed.
inline void rope_row(const float* x, const float* c, const float* s, float* y, int64_t half) {
#pragma omp simd
  for (int64_t i = 0; i < half; ++i) {
    y[i] = x[i] * c[i] + -x[i + half] * s[i];
    y[i + half] = x[i + half] * c[i + half] + x[i] * s[i + half];
  }
}
inline void rope_row_grad(const float* g, const float* c, const float* s, float* dx, int64_t half) {
#pragma omp simd
  for (int64_t i = 0; i < half; ++i) {
    dx[i] = g[i] * c[i] + g[i + half] * s[i + half];
    dx[i + half] = g[i + half] * c[i + half] + -g[i] * s[i];
  }
}

struct RopeFn : torch::autograd::Function<RopeFn> {
  // x [B, T, n, D] -> y [B, n, T, D]
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x_in, const at::Tensor& cos,
                            const at::Tensor& sin) {
    const auto x = x_in.contiguous();
    const int64_t B = x.size(0), T = x.size(1), n = x.size(2), D = x.size(3);
    const int64_t C = cos.size(0);
    auto y = at::empty({B, n, T, D}, x.options());
    const float* xp = x.data_ptr<float>();
    const float* cp = cos.data_ptr<float>();
    const float* sp = sin.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    at::parallel_for(0, B * T, grain(n * D), [&](int64_t begin, int64_t end) {
      for (int64_t bt = begin; bt < end; ++bt) {
        const int64_t b = bt / T, t = bt % T;
        const int64_t pos = ((C == 1 ? 0 : b) * T + t) * D;
        for (int64_t h = 0; h < n; ++h)
          rope_row(xp + (bt * n + h) * D, cp + pos, sp + pos, yp + ((b * n + h) * T + t) * D,
                   D / 2);
      }
    });
    ctx->save_for_backward({cos, sin});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &cos = saved[0], &sin = saved[1];
    const auto g = grads[0].contiguous();  // [B, n, T, D]
    const int64_t B = g.size(0), n = g.size(1), T = g.size(2), D = g.size(3);
    const int64_t C = cos.size(0);
    auto dx = at::empty({B, T, n, D}, g.options());
    const float* gp = g.data_ptr<float>();
    const float* cp = cos.data_ptr<float>();
    const float* sp = sin.data_ptr<float>();
    float* dp = dx.data_ptr<float>();
    at::parallel_for(0, B * T, grain(n * D), [&](int64_t begin, int64_t end) {
      for (int64_t bt = begin; bt < end; ++bt) {
        const int64_t b = bt / T, t = bt % T;
        const int64_t pos = ((C == 1 ? 0 : b) * T + t) * D;
        for (int64_t h = 0; h < n; ++h)
          rope_row_grad(gp + ((b * n + h) * T + t) * D, cp + pos, sp + pos, dp + (bt * n + h) * D,
                        D / 2);
      }
    });
    return {dx, at::Tensor(), at::Tensor()};
  }
};

bool all_float(std::initializer_list<const at::Tensor*> ts) {
  for (const auto* t : ts)
    if (t->scalar_type() != at::kFloat || t->device().type() != at::kCPU) return false;
  return true;
}

}  // namespace

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps) {
  if (!all_float({&x, &w})) {
    auto xf = x.to(at::kFloat);
    auto var = xf.pow(2).mean(-1, true);
    return w * (xf * at::rsqrt(var + eps)).to(x.scalar_type());
  }
  return RmsNormFn::apply(x, w, eps);
}

at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  if (!all_float({&x, &cos, &sin}) || x.size(-1) % 2 != 0) {
    const int64_t B = x.size(0), T = x.size(1), D = x.size(3), h = D / 2;
    auto xt = x.transpose(1, 2);  // [B, n, T, D]
    auto c = cos.view({cos.size(0), 1, T, D}).to(x.scalar_type());
    auto s = sin.view({sin.size(0), 1, T, D}).to(x.scalar_type());
    (void)B;
    return (xt * c + at::cat({-xt.slice(-1, h), xt.slice(-1, 0, h)}, -1) * s).contiguous();
  }
  return RopeFn::apply(x, cos.contiguous(), sin.contiguous());
}

}  // namespace llmops::lm::fused
