// Fused kernels: see fused.hpp. The autograd wrappers (torch::autograd::Function) around the
// loops in fused_kernels.cpp, split across the intra-op threads with at::parallel_for. The
// rounding matches the reference formulas operation for operation where the formula has no exp
// (the rotary output is bit-identical), and batched decoding and the forward pass share these
// kernels, so they agree exactly.
#include "fused.hpp"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "fused_kernels.hpp"

namespace llmops::lm::fused {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows per task: about 32k values, so small tensors stay on one thread.
int64_t grain(int64_t row) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, row));
}

struct RmsNormFn : torch::autograd::Function<RmsNormFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x_in, const at::Tensor& w_in,
                            double eps) {
    const auto x = x_in.contiguous(), w = w_in.contiguous();
    const int64_t H = x.size(-1), N = x.numel() / H;
    auto y = at::empty_like(x);
    auto rstd = at::empty({N}, x.options());
    at::parallel_for(0, N, grain(H), [&](int64_t begin, int64_t end) {
      kernels::rms_norm(x.data_ptr<float>(), w.data_ptr<float>(), y.data_ptr<float>(),
                        rstd.data_ptr<float>(), H, static_cast<float>(eps), begin, end);
    });
    ctx->save_for_backward({x, w, rstd});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &w = saved[1], &rstd = saved[2];
    const auto dy = grads[0].contiguous();
    const int64_t H = x.size(-1), N = x.numel() / H;
    at::Tensor dx = ctx->needs_input_grad(0) ? at::empty_like(x) : at::Tensor();
    // The weight's gradient sums over rows: one partial row per thread, added up at the end.
    const int threads = at::get_num_threads();
    at::Tensor partial =
        ctx->needs_input_grad(1) ? at::zeros({threads, H}, x.options()) : at::Tensor();
    at::parallel_for(0, N, grain(H), [&](int64_t begin, int64_t end) {
      float* acc = partial.defined()
                       ? partial.data_ptr<float>() + std::min(at::get_thread_num(), threads - 1) * H
                       : nullptr;
      kernels::rms_norm_grad(x.data_ptr<float>(), w.data_ptr<float>(), rstd.data_ptr<float>(),
                             dy.data_ptr<float>(), dx.defined() ? dx.data_ptr<float>() : nullptr,
                             acc, H, begin, end);
    });
    return {dx, partial.defined() ? partial.sum(0) : at::Tensor(), at::Tensor()};
  }
};

struct RopeFn : torch::autograd::Function<RopeFn> {
  // x [B, T, n, D] -> y [B, n, T, D]
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x_in, const at::Tensor& cos,
                            const at::Tensor& sin) {
    const auto x = x_in.contiguous();
    const int64_t B = x.size(0), T = x.size(1), n = x.size(2), D = x.size(3);
    auto y = at::empty({B, n, T, D}, x.options());
    at::parallel_for(0, B * T, grain(n * D), [&](int64_t begin, int64_t end) {
      kernels::rope(x.data_ptr<float>(), cos.data_ptr<float>(), sin.data_ptr<float>(),
                    y.data_ptr<float>(), T, n, D, cos.size(0), false, begin, end);
    });
    ctx->save_for_backward({cos, sin});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &cos = saved[0], &sin = saved[1];
    const auto g = grads[0].contiguous();  // [B, n, T, D]
    const int64_t B = g.size(0), n = g.size(1), T = g.size(2), D = g.size(3);
    auto dx = at::empty({B, T, n, D}, g.options());
    at::parallel_for(0, B * T, grain(n * D), [&](int64_t begin, int64_t end) {
      kernels::rope(g.data_ptr<float>(), cos.data_ptr<float>(), sin.data_ptr<float>(),
                    dx.data_ptr<float>(), T, n, D, cos.size(0), true, begin, end);
    });
    return {dx, at::Tensor(), at::Tensor()};
  }
};

struct CausalSoftmaxFn : torch::autograd::Function<CausalSoftmaxFn> {
  // starts: segment starts, or an empty tensor for none (autograd needs a defined argument).
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& scores,
                            const at::Tensor& starts_in) {
    const auto x = scores.contiguous();
    const int64_t S = x.size(-1), T = x.size(-2);
    const auto starts = starts_in.contiguous();
    const int64_t* st = starts.numel() ? starts.data_ptr<int64_t>() : nullptr;
    const int64_t per_seq = st ? x.numel() / S / x.size(0) : 0;
    auto y = at::empty_like(x);
    at::parallel_for(0, x.numel() / S, grain(S), [&](int64_t begin, int64_t end) {
      kernels::causal_softmax(x.data_ptr<float>(), y.data_ptr<float>(), S, T, begin, end, st,
                              per_seq);
    });
    ctx->save_for_backward({y, starts});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& y = saved[0];
    const auto& starts = saved[1];
    const auto g = grads[0].contiguous();
    const int64_t S = y.size(-1), T = y.size(-2);
    const int64_t* st = starts.numel() ? starts.data_ptr<int64_t>() : nullptr;
    const int64_t per_seq = st ? y.numel() / S / y.size(0) : 0;
    auto dx = at::empty_like(y);
    at::parallel_for(0, y.numel() / S, grain(S), [&](int64_t begin, int64_t end) {
      kernels::causal_softmax_grad(y.data_ptr<float>(), g.data_ptr<float>(), dx.data_ptr<float>(),
                                   S, T, begin, end, st, per_seq);
    });
    return {dx, at::Tensor()};
  }
};

struct CrossEntropyFn : torch::autograd::Function<CrossEntropyFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& logits,
                            const at::Tensor& labels_in, bool mean) {
    const auto x = logits.contiguous(), labels = labels_in.contiguous();
    const int64_t N = x.size(0), V = x.size(1);
    if (labels.numel() != N) throw std::invalid_argument("cross_entropy: one label per row");
    const int64_t* lp = labels.data_ptr<int64_t>();
    int64_t count = 0;
    for (int64_t r = 0; r < N; ++r) {
      if (lp[r] == -100) continue;
      if (lp[r] < 0 || lp[r] >= V)
        throw std::out_of_range("cross_entropy: label " + std::to_string(lp[r]) +
                                " is outside the vocabulary [0, " + std::to_string(V) + ")");
      ++count;
    }
    auto lse = at::empty({N}, x.options());
    std::vector<double> row_loss(static_cast<size_t>(N), 0.0);
    at::parallel_for(0, N, grain(V), [&](int64_t begin, int64_t end) {
      kernels::cross_entropy(x.data_ptr<float>(), lp, lse.data_ptr<float>(), row_loss.data(), V,
                             begin, end);
    });
    double total = 0;
    for (double l : row_loss) total += l;  // ignored rows hold 0
    const double scale = mean ? 1.0 / static_cast<double>(count) : 1.0;
    ctx->save_for_backward({x, labels, lse});
    ctx->saved_data["scale"] = scale;
    return at::scalar_tensor(total * scale, x.options());  // NaN when mean of nothing
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &labels = saved[1], &lse = saved[2];
    const auto f =
        static_cast<float>(grads[0].item<double>() * ctx->saved_data["scale"].toDouble());
    const int64_t N = x.size(0), V = x.size(1);
    auto dx = at::empty_like(x);
    at::parallel_for(0, N, grain(V), [&](int64_t begin, int64_t end) {
      kernels::cross_entropy_grad(x.data_ptr<float>(), labels.data_ptr<int64_t>(),
                                  lse.data_ptr<float>(), f, dx.data_ptr<float>(), V, begin, end);
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
    const int64_t T = x.size(1), D = x.size(3), h = D / 2;
    auto xt = x.transpose(1, 2);  // [B, n, T, D]
    auto c = cos.view({cos.size(0), 1, T, D}).to(x.scalar_type());
    auto s = sin.view({sin.size(0), 1, T, D}).to(x.scalar_type());
    return (xt * c + at::cat({-xt.slice(-1, h), xt.slice(-1, 0, h)}, -1) * s).contiguous();
  }
  return RopeFn::apply(x, cos.contiguous(), sin.contiguous());
}

at::Tensor causal_softmax(const at::Tensor& scores, const at::Tensor& starts) {
  TORCH_CHECK(!starts.defined() ||
                  (scores.dim() == 4 && starts.dim() == 2 && starts.size(0) == scores.size(0) &&
                   starts.size(1) == scores.size(-2) && scores.size(-1) == scores.size(-2) &&
                   starts.scalar_type() == at::kLong),
              "causal_softmax: starts must be int64 [B, T] for scores [B, H, T, T]");
  if (!all_float({&scores})) {
    const int64_t S = scores.size(-1), T = scores.size(-2);
    auto mask = at::full({T, S}, -std::numeric_limits<float>::infinity(),
                         scores.options().dtype(at::kFloat))
                    .triu(S - T + 1);
    if (starts.defined()) {  // [B, 1, T, S]: -inf where key < start
      auto keys = at::arange(S, starts.options()).view({1, 1, 1, S});
      auto before = keys.lt(starts.view({starts.size(0), 1, T, 1}));
      mask = mask.view({1, 1, T, S}).masked_fill(before, -std::numeric_limits<float>::infinity());
    }
    return at::softmax(scores.to(at::kFloat) + mask, -1);
  }
  // One shared empty tensor for "no segments": decoding calls this per layer and token.
  static const at::Tensor kNoStarts = at::empty({0}, at::kLong);
  return CausalSoftmaxFn::apply(scores, starts.defined() ? starts : kNoStarts);
}

at::Tensor cross_entropy(const at::Tensor& logits, const at::Tensor& labels, bool mean) {
  if (!all_float({&logits}) || labels.scalar_type() != at::kLong || logits.dim() != 2)
    return at::cross_entropy_loss(logits.to(at::kFloat), labels, {},
                                  mean ? at::Reduction::Mean : at::Reduction::Sum, -100);
  return CrossEntropyFn::apply(logits, labels, mean);
}

}  // namespace llmops::lm::fused
