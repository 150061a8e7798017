// LlamaConfig: the architecture of a Llama-family decoder, read from and written to an HF
// `config.json`. Torch-free, so the tools and tests that only inspect a model build fast.
// Accepts LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM (which differ only in the
// fields below); anything else is a clear "unknown architecture" error.
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "llmops/status.hpp"

namespace llmops::lm {

struct LlamaConfig {
  std::string architecture = "LlamaForCausalLM";
  std::string model_type = "llama";
  int64_t vocab_size = 32000;
  int64_t hidden_size = 768;
  int64_t intermediate_size = 2048;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t num_key_value_heads = 12;
  int64_t head_dim = 64;
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  // rope scaling: "default", "linear" (positions / factor) or "llama3" (Llama 3.1 frequency bands)
  std::string rope_type = "default";
  double rope_factor = 1.0;
  double rope_low_freq_factor = 1.0;
  double rope_high_freq_factor = 4.0;
  int64_t rope_original_max_position = 8192;
  bool attention_bias = false;  // bias on q, k, v (and o for Llama's attention_bias)
  bool o_bias = false;
  bool mlp_bias = false;
  bool tie_word_embeddings = false;
  int64_t bos_token_id = -1;
  int64_t eos_token_id = -1;
  int64_t pad_token_id = -1;
  std::string torch_dtype = "float32";
  // The config.json as read (JSON text), so that saving keeps fields we do not model.
  std::string raw_json = "{}";

  // Checks the numbers fit together (heads divide, positive sizes); the message says which.
  Status validate() const;
  int64_t parameter_count() const;
};

// Parses config.json text; `where` names the file in errors.
Result<LlamaConfig> parse_llama_config(const std::string& json_text, const std::string& where);
Result<LlamaConfig> read_llama_config(const std::filesystem::path& config_json);
// HF-style config.json (both `rope_theta` and `rope_parameters`, so transformers 4.x and 5.x load
// it).
std::string llama_config_to_json(const LlamaConfig& c);

}  // namespace llmops::lm
