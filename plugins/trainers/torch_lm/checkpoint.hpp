// Training checkpoints of trainer/torch-lm, versioned: a folder per checkpoint,
//   <checkpoint_dir>/step-00000040/state.json        {"format": "llmops.torch-lm.checkpoint",
//                                                     "version": 1, "step", "fingerprint",
//                                                     "adam_steps", "best_eval", "bad_evals",
//                                                     "loss_curve", "eval_curve"}
//   <checkpoint_dir>/step-00000040/tensors.safetensors  param/<name>, exp_avg/<name>,
//                                                     exp_avg_sq/<name>, rng/cpu (U8)
// written to a temporary folder and renamed, so a kill mid-write leaves the previous checkpoint
// intact. The data position is the step (batch order is a function of seed and step). An
// unknown version is refused with a clear error rather than misread.
// Thread safety: free functions; one writer per folder.
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "llmops/status.hpp"
#include "trainers/torch_lm/optim.hpp"

namespace llmops::trainers {

inline constexpr int kCheckpointVersion = 1;

struct CheckpointState {
  int64_t step = 0;
  std::string fingerprint;
  double best_eval = INFINITY;
  int64_t bad_evals = 0;
  std::vector<std::pair<int64_t, double>> loss_curve, eval_curve;
};

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

Status save_checkpoint(const std::filesystem::path& dir, const CheckpointState& state,
                       const NamedTensors& params, AdamW& optimizer, int64_t keep);

// The newest complete checkpoint folder in `dir`, if any.
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& dir);

// The fingerprint a checkpoint was written under ("" when unreadable).
std::string checkpoint_fingerprint(const std::filesystem::path& folder);

// Reads a checkpoint into `state`, the parameters (copied in place) and the optimizer, and
// restores the default CPU generator.
Status load_checkpoint(const std::filesystem::path& folder, CheckpointState& state,
                       const NamedTensors& params, AdamW& optimizer);

}  // namespace llmops::trainers
