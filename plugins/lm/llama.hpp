// LlamaModel: a Llama-family decoder (RMSNorm, RoPE, SwiGLU, grouped/multi-query attention,
// optional q/k/v bias, tied or untied embeddings, optional LoRA) written with ATen functions, so it
// trains with autograd and loads/saves Hugging Face folders with HF tensor names.
//
// This header pulls in ATen: include it only from the few .cpp files that need tensors (the
// trainer, the server). Tools and tests use the torch-free facade in model.hpp.
// Thread safety: forward() only reads the weights, so concurrent forwards are fine; loading,
// LoRA changes and training steps need exclusive access.
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config.hpp"
#include "generation.hpp"
#include "safetensors.hpp"

namespace llmops::lm {

// A linear layer y = x W^T + b, plus an optional LoRA branch  scale * B(A(dropout(x))).
struct Linear {
  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out] or undefined
  at::Tensor lora_a;  // [r, in] or undefined
  at::Tensor lora_b;  // [out, r]
  double lora_scale = 0;
  double lora_dropout = 0;

  at::Tensor forward(const at::Tensor& x, bool training) const;
  bool has_lora() const { return lora_a.defined(); }
};

struct DecoderLayer {
  at::Tensor input_norm, post_norm;
  Linear q, k, v, o, gate, up, down;
};

// Keys and values of the positions seen so far, one pair per layer ([B, kv_heads, T, head_dim]).
struct KVCache {
  std::vector<at::Tensor> k, v;
  int64_t length = 0;
};

struct LoraConfig {
  int64_t r = 8;
  double alpha = 16;
  double dropout = 0;
  bool use_rslora = false;  // scale alpha / sqrt(r) instead of alpha / r
  // PEFT semantics: a list matches module names equal to or ending in ".<name>"; a single
  // string (target_regex) must match the whole module name.
  std::vector<std::string> target_modules = {"q_proj", "v_proj"};
  std::string target_regex;
  double scale() const;
};

class LlamaModel {
 public:
  LlamaConfig config;
  at::Tensor embed;    // [vocab, hidden]
  at::Tensor norm;     // [hidden]
  at::Tensor lm_head;  // [vocab, hidden]; the same tensor as embed when tied
  std::vector<DecoderLayer> layers;
  std::optional<LoraConfig> lora;

  // Random weights as transformers initialises them (normal(0, 0.02), norms 1), seeded.
  static Result<LlamaModel> init(const LlamaConfig& config, uint64_t seed);
  // An HF folder: config.json + model.safetensors or model.safetensors.index.json and its shards.
  static Result<LlamaModel> load(const std::filesystem::path& dir);
  // Writes config.json and model.safetensors (sharded with an index above max_shard_bytes), in
  // dtype (F32, BF16 or F16). LoRA weights are not saved here: merge them or use save_adapter().
  Status save(const std::filesystem::path& dir, DType dtype = DType::kF32,
              int64_t max_shard_bytes = int64_t{5} << 30) const;

  // ids: int64 [B, T]. Returns float32 logits [B, T, vocab]. With a cache, attends to the cached
  // positions too and appends this call's keys and values. With `starts` (no cache; int64 [B, T],
  // segment_starts()), position t attends only to starts[b][t] .. t: packed documents stay apart.
  at::Tensor forward(const at::Tensor& ids, KVCache* cache = nullptr, bool training = false,
                     const at::Tensor& starts = {}) const;

  // The model's tensors under their HF names (lm_head.weight omitted when tied).
  std::vector<std::pair<std::string, at::Tensor>> named_weights() const;
  // Trainable tensors: every weight, or only the LoRA A/B matrices.
  std::vector<at::Tensor> parameters(bool lora_only = false) const;
  int64_t parameter_count() const;

  // LoRA (lora.cpp). add_lora starts A as PEFT does (kaiming-uniform) and B at zero.
  Status add_lora(const LoraConfig& cfg, uint64_t seed);
  Status load_adapter(const std::filesystem::path& dir);  // PEFT folder
  Status save_adapter(const std::filesystem::path& dir) const;
  void merge_lora();  // folds scale * B A into W and drops the adapter
  // The LoRA tensors under PEFT names (base_model.model.<module>.lora_A.weight, ...).
  std::vector<std::pair<std::string, at::Tensor>> named_lora() const;
  // Visits every targetable linear with its HF module name (model.layers.N.self_attn.q_proj).
  void for_each_linear(const std::function<void(const std::string&, Linear&)>& fn);

  // Generation with a KV cache (generate.cpp): returns prompt + new tokens.
  std::vector<int64_t> generate(const std::vector<int64_t>& prompt,
                                const GenerationOptions& options) const;

  // One decoding step for B sequences at once (batch.cpp): ids int64 [B], each sequence's newest
  // token; caches[b] holds sequence b's earlier positions (filled by a forward over its prompt;
  // lengths may differ) and gets this token appended. Returns float32 logits [B, vocab]. Row b
  // equals forward(ids[b], caches[b]) for that sequence alone.
  at::Tensor decode_step(const at::Tensor& ids, const std::vector<KVCache*>& caches) const;

  // Recomputes the rotary inverse frequencies from config (done by init and load).
  void compute_rope();

 private:
  at::Tensor inv_freq_;  // [head_dim / 2]
};

// Host tensor <-> ATen tensor. to_aten keeps the dtype (float types widen to float32 when asked).
at::Tensor to_aten(const RawTensor& t, bool as_float32 = false);
RawTensor from_aten(const at::Tensor& t, DType dtype);

// Where each position's document starts when documents are packed in rows, each ending with
// `separator` (the separator belongs to the document it ends): int64 [B, T].
at::Tensor segment_starts(const at::Tensor& ids, int64_t separator);

// Next-token cross-entropy, HF style: logits [B, T, V], labels [B, T] (shifted inside; label
// -100 is ignored), the mean over the targets or (at::Reduction::Sum) their sum.
at::Tensor causal_lm_loss(const at::Tensor& logits, const at::Tensor& labels,
                          at::Reduction::Reduction reduction = at::Reduction::Mean);
// labels [B, T] -> the next token's label at each position: [B, T], the last one -100.
at::Tensor next_token_labels(const at::Tensor& labels);

// Sets the intra-op thread count (0: all cores) once per process.
void set_torch_threads(int n);

// For training loops: glibc's malloc keeps freed blocks for reuse instead of unmapping every
// large tensor when it is freed and faulting its pages in again on the next step (about a fifth
// of a small model's step time). Process-wide; the memory stays with the process up to its peak.
void retain_freed_memory();

}  // namespace llmops::lm
