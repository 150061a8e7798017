// The training loop; see trainer.hpp.
#include "trainers/torch_lm/trainer.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

#include "lm/llama.hpp"
#include "trainers/torch_lm/checkpoint.hpp"
#include "trainers/torch_lm/collective.hpp"
#include "trainers/torch_lm/optim.hpp"

namespace llmops::trainers {
namespace {

using Clock = std::chrono::steady_clock;

template <typename T>
at::Tensor rows_tensor(const std::vector<T>& flat, int64_t seq_len,
                       const std::vector<int64_t>& rows) {
  auto t =
      at::empty({static_cast<int64_t>(rows.size()), seq_len}, at::CppTypeToScalarType<T>::value);
  auto* out = t.template data_ptr<T>();
  for (size_t r = 0; r < rows.size(); ++r)
    std::copy_n(flat.data() + rows[r] * seq_len, seq_len, out + r * seq_len);
  return t;
}

// Summed next-token cross-entropy and the number of targets; segment_token as TrainOptions.
// With argument labels (the labels of argument-value targets, -100 elsewhere) and a weight w,
// `weighted` adds (w - 1) times their summed cross-entropy, so those targets count w times.
struct SummedLoss {
  at::Tensor loss, weighted;
  int64_t n = 0;
};

SummedLoss summed_loss(const lm::LlamaModel& model, const at::Tensor& ids, const at::Tensor& labels,
                       bool training, int64_t segment_token, const at::Tensor& argument_labels = {},
                       double argument_weight = 1) {
  const int64_t n = labels.slice(1, 1).ge(0).sum().item<int64_t>();
  const auto starts = segment_token >= 0 ? lm::segment_starts(ids, segment_token) : at::Tensor();
  const auto logits = model.forward(ids, nullptr, training, starts);
  auto loss = lm::causal_lm_loss(logits, labels, at::Reduction::Sum);
  auto weighted = loss;
  if (argument_labels.defined() && argument_weight != 1 &&
      argument_labels.slice(1, 1).ge(0).any().item<bool>())
    weighted = loss + (argument_weight - 1) *
                          lm::causal_lm_loss(logits, argument_labels, at::Reduction::Sum);
  return {loss, weighted, n};
}

std::string fmt_duration(double s) {
  char buf[32];
  if (s < 90)
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 5400)
    std::snprintf(buf, sizeof buf, "%.0fm%02.0fs", std::floor(s / 60), std::fmod(s, 60));
  else
    std::snprintf(buf, sizeof buf, "%.1fh", s / 3600);
  return buf;
}

}  // namespace

std::vector<int64_t> batch_rows(int64_t rows, int64_t batch_size, int64_t micro, uint64_t seed) {
  // One permutation per epoch, cached for the epoch currently being read.
  thread_local int64_t cached_epoch = -1, cached_rows = -1;
  thread_local uint64_t cached_seed = 0;
  thread_local std::vector<int64_t> perm;
  std::vector<int64_t> out;
  for (int64_t b = 0; b < batch_size; ++b) {
    const int64_t i = micro * batch_size + b;
    const int64_t epoch = i / rows;
    if (epoch != cached_epoch || rows != cached_rows || seed != cached_seed) {
      // Our own Fisher-Yates: std::shuffle's algorithm is unspecified, mt19937_64's output is not.
      std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) + 1);
      perm.resize(rows);
      for (int64_t k = 0; k < rows; ++k) perm[k] = k;
      for (int64_t k = rows - 1; k > 0; --k)
        std::swap(perm[k], perm[rng() % static_cast<uint64_t>(k + 1)]);
      cached_epoch = epoch;
      cached_rows = rows;
      cached_seed = seed;
    }
    out.push_back(perm[i % rows]);
  }
  return out;
}

double evaluate_loss(const lm::LlamaModel& model, const PackedData& data, int64_t batch_size,
                     int64_t max_batches, Collective* collective, int64_t segment_token) {
  at::NoGradGuard no_grad;
  double sum = 0;
  int64_t n = 0;
  const int64_t rows = data.rows();
  for (int64_t start = 0, b = 0; start < rows && (max_batches <= 0 || b < max_batches);
       start += batch_size, ++b) {
    if (collective && b % collective->world() != collective->rank()) continue;
    std::vector<int64_t> idx;
    for (int64_t r = start; r < std::min(rows, start + batch_size); ++r) idx.push_back(r);
    const auto part =
        summed_loss(model, rows_tensor(data.ids, data.seq_len, idx),
                    rows_tensor(data.labels, data.seq_len, idx), false, segment_token);
    sum += part.loss.item<double>();
    n += part.n;
  }
  if (collective) {
    std::vector<at::Tensor> t{at::tensor({sum, static_cast<double>(n)}, at::kDouble)};
    collective->allreduce_sum(t);
    sum = t[0][0].item<double>();
    n = static_cast<int64_t>(t[0][1].item<double>());
  }
  return n > 0 ? sum / static_cast<double>(n) : NAN;
}

Result<TrainResult> train_model(lm::LlamaModel& model, const PackedData& train,
                                const PackedData* eval, const TrainOptions& o, TrainObserver& obs) {
  if (train.rows() == 0) return Status::invalid("no training rows");
  if (o.total_steps <= 0 || o.batch_size <= 0 || o.grad_accum <= 0)
    return Status::invalid("steps, batch_size and grad_accum must be positive");
  Collective* const dist = o.collective;
  const int world = dist ? dist->world() : 1, rank = dist ? dist->rank() : 0;
  if (o.batch_size % world != 0)
    return Status::invalid("batch_size " + std::to_string(o.batch_size) +
                           " is not a multiple of the world size " + std::to_string(world));
  const auto bucket_bytes = static_cast<int64_t>(o.bucket_mb * (1 << 20));
  at::init_num_threads();
  const unsigned hw = std::thread::hardware_concurrency();
  at::set_num_threads(o.threads > 0 ? o.threads : static_cast<int>(hw ? hw : 1));
  lm::retain_freed_memory();
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(o.seed);
  }

  NamedTensors params = o.lora_only ? model.named_lora() : model.named_weights();
  if (params.empty()) return Status::invalid("the model has no trainable parameters");
  std::vector<at::Tensor> tensors;
  for (auto& [name, t] : params) {
    t.requires_grad_(true);
    tensors.push_back(t);
  }
  AdamW opt(tensors, {o.beta1, o.beta2, o.eps, o.weight_decay});

  CheckpointState st;
  st.fingerprint = o.fingerprint;
  TrainResult res;
  if (!o.checkpoint_dir.empty()) {
    if (auto last = latest_checkpoint(o.checkpoint_dir)) {
      if (checkpoint_fingerprint(*last) != o.fingerprint) {
        obs.log("ignoring checkpoint " + last->string() + ": written for other inputs/parameters");
      } else {
        if (auto s = load_checkpoint(*last, st, params, opt); !s) return s;
        res.resumed_from = st.step;
        obs.log("resuming from checkpoint " + last->string() + " at step " +
                std::to_string(st.step));
        for (const auto& [s, v] : st.loss_curve) {
          obs.metric("loss", v, s);
          obs.metric("lr", cosine_lr(s - 1, o.total_steps, o.warmup_steps, o.lr, o.min_lr_ratio),
                     s);
        }
        for (const auto& [s, v] : st.eval_curve) obs.metric("eval_loss", v, s);
      }
    }
  }
  if (dist) {
    // Rank 0's weights for everyone (they start equal anyway: same seed, same base, same
    // checkpoint); dropout draws its own numbers on each rank.
    broadcast_tensors(*dist, tensors, bucket_bytes);
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    if (rank > 0) gen.set_current_seed(o.seed * 1000003 + static_cast<uint64_t>(rank));
  }

  const int64_t T = train.seq_len;
  double step_seconds = 0;
  int64_t step_tokens = 0;
  bool stop = false;
  while (st.step < o.total_steps && !stop) {
    if (obs.cancelled())
      return Status::cancelled("training cancelled at step " + std::to_string(st.step));
    const auto t0 = Clock::now();
    // The micro-batches of this update; the loss is normalised by the update's target count so
    // accumulation weighs every token alike.
    // With several ranks each takes its equal slice of every micro-batch but divides by the
    // whole batch's target count, so the summed gradients are one process's.
    struct Micro {
      at::Tensor ids, labels, argument_labels;
    };
    std::vector<Micro> micro;
    int64_t targets = 0;
    for (int64_t m = 0; m < o.grad_accum; ++m) {
      auto rows = batch_rows(train.rows(), o.batch_size, st.step * o.grad_accum + m, o.seed);
      if (world > 1) {
        for (int64_t r : rows)
          for (int64_t k = 1; k < T; ++k) targets += train.labels[r * T + k] >= 0;
        const auto share = static_cast<int64_t>(rows.size()) / world;
        rows = std::vector<int64_t>(rows.begin() + rank * share, rows.begin() + (rank + 1) * share);
      }
      auto labels = rows_tensor(train.labels, T, rows);
      if (world == 1) targets += labels.slice(1, 1).ge(0).sum().item<int64_t>();
      at::Tensor argument_labels;
      if (o.argument_weight != 1 && train.argument.size() == train.labels.size())
        argument_labels = labels.masked_fill(rows_tensor(train.argument, T, rows).eq(0), -100);
      micro.push_back({rows_tensor(train.ids, T, rows), labels, argument_labels});
    }
    double loss_value = 0;
    for (auto& m : micro) {
      if (targets == 0) break;
      auto [loss, weighted, n] = summed_loss(model, m.ids, m.labels, true, o.segment_token,
                                             m.argument_labels, o.argument_weight);
      if (n == 0) continue;
      (weighted / static_cast<double>(targets)).backward();
      loss_value += loss.item<double>() / static_cast<double>(targets);
    }
    if (dist) {
      const auto c0 = Clock::now();
      allreduce_gradients(*dist, tensors, loss_value, bucket_bytes);
      res.comm_seconds += std::chrono::duration<double>(Clock::now() - c0).count();
    }
    clip_grad_norm(tensors, o.max_grad_norm);
    const double lr = cosine_lr(st.step, o.total_steps, o.warmup_steps, o.lr, o.min_lr_ratio);
    opt.step(lr);
    opt.zero_grad();
    ++st.step;
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    step_seconds += dt;
    step_tokens += o.grad_accum * o.batch_size * T;
    // An update whose rows hold no target (only user turns: a tiny or oddly packed set) has no
    // loss; a 0 would read as a perfect step on the curve.
    if (targets > 0) {
      st.loss_curve.emplace_back(st.step, loss_value);
      obs.metric("loss", loss_value, st.step);
    }
    obs.metric("lr", lr, st.step);
    const double tps = step_seconds > 0 ? step_tokens / step_seconds : 0;
    const double eta = step_seconds / static_cast<double>(st.step - res.resumed_from) *
                       static_cast<double>(o.total_steps - st.step);
    char note[160];
    std::snprintf(note, sizeof note, "loss %.3f tok/s %.0f eta %s", loss_value, tps,
                  fmt_duration(eta).c_str());
    obs.progress(st.step, o.total_steps, note);

    const bool last = st.step == o.total_steps;
    if (eval && eval->rows() > 0 && o.eval_every > 0 && st.step % o.eval_every == 0 && !last) {
      const double el =
          evaluate_loss(model, *eval, o.batch_size, o.eval_batches, dist, o.segment_token);
      st.eval_curve.emplace_back(st.step, el);
      obs.metric("eval_loss", el, st.step);
      obs.log("step " + std::to_string(st.step) + ": eval loss " + std::to_string(el));
      if (el < st.best_eval - o.min_delta) {
        st.best_eval = el;
        st.bad_evals = 0;
      } else if (o.patience > 0 && ++st.bad_evals >= o.patience) {
        obs.log("early stopping at step " + std::to_string(st.step) + ": eval loss has not " +
                "improved for " + std::to_string(o.patience) + " evaluations");
        res.early_stopped = true;
        stop = true;
      }
    }
    if (rank == 0 && !o.checkpoint_dir.empty() && o.checkpoint_every > 0 &&
        st.step % o.checkpoint_every == 0 && !last && !stop) {
      if (auto s = save_checkpoint(o.checkpoint_dir, st, params, opt, o.keep_checkpoints); !s)
        return s;
    }
  }

  for (auto& t : tensors) t.requires_grad_(false);
  res.steps = st.step;
  res.tokens = step_tokens;
  res.train_seconds = step_seconds;
  res.tokens_per_s = step_seconds > 0 ? step_tokens / step_seconds : 0;
  const size_t tail = std::max<size_t>(1, st.loss_curve.size() / 10);
  double sum = 0;
  for (size_t i = st.loss_curve.size() - std::min(tail, st.loss_curve.size());
       i < st.loss_curve.size(); ++i)
    sum += st.loss_curve[i].second;
  res.train_loss = st.loss_curve.empty() ? NAN : sum / static_cast<double>(tail);
  if (eval && eval->rows() > 0) {
    res.eval_loss =
        evaluate_loss(model, *eval, o.batch_size, o.eval_batches, dist, o.segment_token);
    st.eval_curve.emplace_back(st.step, res.eval_loss);
    obs.metric("eval_loss", res.eval_loss, st.step);
    res.best_eval_loss = std::min(st.best_eval, res.eval_loss);
  }
  res.loss_curve = st.loss_curve;
  res.eval_curve = st.eval_curve;
  return res;
}

}  // namespace llmops::trainers
