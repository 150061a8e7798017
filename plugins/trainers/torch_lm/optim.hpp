// AdamW, the cosine learning-rate schedule with linear warmup, and gradient-norm clipping,
// written on ATen (torch::optim would pull in <torch/torch.h>, doubling compile time, and its
// state is harder to checkpoint in our own versioned format). The update is torch.optim.AdamW's
// (decoupled weight decay, bias-corrected moments), step for step.
// Thread safety: one optimizer per training loop.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace llmops::trainers {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.01;  // applied to matrices only (not norms, biases)
};

class AdamW {
 public:
  AdamW(std::vector<at::Tensor> params, AdamWOptions options);

  void step(double lr);
  void zero_grad();

  int64_t steps() const { return step_; }
  // Moments (for checkpoints); same order as the parameters.
  std::vector<at::Tensor>& exp_avg() { return m_; }
  std::vector<at::Tensor>& exp_avg_sq() { return v_; }
  void set_steps(int64_t s) { step_ = s; }

 private:
  std::vector<at::Tensor> params_, m_, v_;
  AdamWOptions opt_;
  int64_t step_ = 0;
};

// Linear warmup from 0 to peak over `warmup` steps, then cosine decay to peak * min_ratio at
// `total`. `step` counts from 0 (the lr of the first update).
double cosine_lr(int64_t step, int64_t total, int64_t warmup, double peak, double min_ratio);

// Scales the gradients so that their global L2 norm is at most max_norm (when max_norm > 0);
// returns the norm before clipping, as torch.nn.utils.clip_grad_norm_ does.
double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm);

}  // namespace llmops::trainers
