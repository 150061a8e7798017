// Building the model a torch-lm step trains and saving what it trained, shared by the step's own
// process and the rank processes of data-parallel training (distributed.hpp), so both start from
// the same weights and write the same folders.
// Thread safety: free functions.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "llmops/status.hpp"
#include "lm/llama.hpp"
#include "lm/safetensors.hpp"

namespace llmops::trainers {

struct ModelSpec {
  std::string mode;                           // scratch | full | lora
  std::optional<std::filesystem::path> base;  // full and lora: the HF folder
  lm::LlamaConfig config;                     // scratch: the architecture
  uint64_t seed = 0;
  std::optional<lm::LoraConfig> lora;  // lora mode
};

// Scratch: seeded random weights; full and lora: the base's weights (+ a seeded adapter).
Result<lm::LlamaModel> build_model(const ModelSpec& spec);

struct ModelOutputs {
  std::filesystem::path adapter_dir;  // lora mode: the PEFT folder
  std::filesystem::path model_dir;    // empty: no merged model (lora without merge_adapter)
  lm::DType dtype = lm::DType::kF32;
};

// Writes the adapter (lora) and the model (merging the adapter first); the model's tokenizer
// and generation files are the caller's.
Status save_trained_model(lm::LlamaModel& model, const ModelSpec& spec, const ModelOutputs& out);

}  // namespace llmops::trainers
