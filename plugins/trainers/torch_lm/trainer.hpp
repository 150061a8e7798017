// The training loop of trainer/torch-lm: AdamW with a cosine schedule and warmup, gradient
// clipping and accumulation, evaluation every N steps with early stopping, and checkpoints that
// let a killed run resume to bit-identical weights. Torch-free header (LlamaModel is declared
// only); trainer.cpp and checkpoint.cpp hold the ATen code.
//
// Determinism: the batch order is a function of (seed, step) alone (a seeded Fisher-Yates
// permutation per epoch), the default CPU generator (LoRA dropout) is seeded and checkpointed, and
// ATen's CPU kernels are deterministic for a fixed thread count. So a run resumed from a
// checkpoint ends with the same weights as an uninterrupted one (bit for bit with the same
// number of threads).
// Thread safety: one call per model at a time.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "llmops/status.hpp"
#include "trainers/torch_lm/data.hpp"

namespace llmops::lm {
class LlamaModel;
}

namespace llmops::trainers {

class Collective;  // collective.hpp

struct TrainOptions {
  int64_t total_steps = 100;  // optimizer updates
  int64_t batch_size = 8;     // rows per micro-batch
  int64_t grad_accum = 1;     // micro-batches per update
  double lr = 1e-3;
  double min_lr_ratio = 0.1;
  int64_t warmup_steps = 0;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.01;
  double max_grad_norm = 1.0;  // 0: no clipping
  int64_t eval_every = 0;      // 0: only at the end
  int64_t eval_batches = 0;    // 0: the whole eval set
  int64_t patience = 0;        // evaluations without improvement before stopping; 0: never
  double min_delta = 0;        // improvement smaller than this does not count
  int64_t checkpoint_every = 0;
  int64_t keep_checkpoints = 2;
  std::filesystem::path checkpoint_dir;  // empty: no checkpoints
  std::string fingerprint;  // a checkpoint written under another fingerprint is not resumed
  uint64_t seed = 0;
  int threads = 0;  // 0: every core
  bool lora_only = false;
  // >= 0: rows hold whole documents, each ending with this token, and attention stays inside
  // each (conversation packing); -1: a row is one stream.
  int64_t segment_token = -1;
  // The loss weight of targets inside tool-call argument values (PackedData::argument) relative
  // to the other targets; 1 weighs every target alike. The reported loss stays unweighted.
  double argument_weight = 1;
  // Data-parallel training: this rank's process group (collective.hpp); null for one process.
  // Every rank runs the same loop on its share of each global batch (batch_size rows, split in
  // equal parts, so batch_size must be a multiple of the world size); gradients are summed over
  // the ranks in buckets of bucket_mb before clipping, so the update equals one process's on the
  // whole batch. Rank 0 alone writes checkpoints; every rank reads them on resume.
  Collective* collective = nullptr;
  double bucket_mb = 25;
};

// Where the loop reports to (the plugin forwards to its StepContext).
class TrainObserver {
 public:
  virtual ~TrainObserver() = default;
  virtual void progress(int64_t /*step*/, int64_t /*total*/, const std::string& /*note*/) {}
  virtual void metric(const std::string& /*name*/, double /*value*/, int64_t /*step*/) {}
  virtual void log(const std::string& /*message*/) {}
  virtual bool cancelled() { return false; }
};

struct TrainResult {
  int64_t steps = 0;         // updates done in total (including before a resume)
  int64_t resumed_from = 0;  // the checkpoint step this attempt started from (0: none)
  double train_loss = NAN;   // mean over the last tenth of the updates
  double eval_loss = NAN;    // at the end
  double best_eval_loss = NAN;
  bool early_stopped = false;
  int64_t tokens = 0;        // tokens fed through the model by this attempt
  double train_seconds = 0;  // time in training steps (not eval or checkpoints)
  double tokens_per_s = 0;
  double comm_seconds = 0;  // time spent in collectives (data-parallel training)
  std::vector<std::pair<int64_t, double>> loss_curve, eval_curve;
};

Result<TrainResult> train_model(lm::LlamaModel& model, const PackedData& train,
                                const PackedData* eval, const TrainOptions& options,
                                TrainObserver& observer);

// Mean cross-entropy over the target tokens of `data` (max_batches 0: all rows). With a
// collective, each rank evaluates every world-th batch and the sums are combined.
// segment_token as TrainOptions.
double evaluate_loss(const lm::LlamaModel& model, const PackedData& data, int64_t batch_size,
                     int64_t max_batches = 0, Collective* collective = nullptr,
                     int64_t segment_token = -1);

// Rows of the batch for micro-batch `micro` (counted over the whole run): seeded, one permutation
// per epoch, so any position can be recomputed after a resume.
std::vector<int64_t> batch_rows(int64_t rows, int64_t batch_size, int64_t micro, uint64_t seed);

}  // namespace llmops::trainers
