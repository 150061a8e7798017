// The parameters of trainer/torch-lm (the step's `with:`), read and checked in one place, with
// the defaults that depend on the mode. Torch-free.
// Thread safety: plain values.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "llmops/plugin.hpp"
#include "lm/config.hpp"
#include "lm/safetensors.hpp"
#include "trainers/torch_lm/trainer.hpp"

namespace llmops::trainers {

// `distributed:` (docs/trainer.md): data-parallel training over rank processes.
struct DistOptions {
  bool enabled = false;
  int world_size = 0;             // 0: from Slurm (srun launcher)
  std::string backend = "auto";   // auto | gloo (nccl is refused: libtorch without CUDA)
  std::string launcher = "auto";  // auto (srun inside a Slurm job of several tasks) | local | srun
  double timeout_s = 300;         // joining the group and each collective
  double bucket_mb = 25;
  std::string ifname;  // network interface for Gloo across nodes
};

struct RunOptions {
  std::string mode;  // scratch | full | lora
  std::optional<std::filesystem::path> base;
  lm::LlamaConfig arch;  // scratch mode
  int64_t vocab = 1024;  // size of a trained tokenizer
  int64_t max_seq = 512;
  int64_t seq_len = 256;
  Packing packing = Packing::kStream;
  bool document_mask = true;  // packing kConversations: attention within each
  double epochs = 1;
  double eval_fraction = 0.05;
  int64_t lora_rank = 8;
  double lora_alpha = 16, lora_dropout = 0.05;
  std::vector<std::string> lora_targets = {"q_proj", "k_proj", "v_proj", "o_proj"};
  bool merge_adapter = true;
  lm::DType save_dtype = lm::DType::kF32;
  std::filesystem::path checkpoint_dir;
  bool keep_checkpoints_after = false;
  bool warmup_given = false, eval_every_given = false;
  TrainOptions train;
  DistOptions dist;
};

// Reads and validates the parameters and checks the inputs that every mode needs; errors name
// the parameter and say what is allowed.
Result<RunOptions> read_options(const StepContext& ctx);
// Defaults that need the step count (warmup, eval_every), once it is known.
void finish_defaults(RunOptions& o);

}  // namespace llmops::trainers
