// Model: a torch-free facade over LlamaModel for tools, tests, evaluators and servers that only
// need to load a model, run it and generate. Including this header costs no libtorch compile time.
// inspect_model() reads only config.json and the safetensors headers (no weights, no torch).
// Thread safety: logits/loss/generate may run concurrently; load_adapter/merge/save need exclusive
// access.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config.hpp"
#include "generation.hpp"
#include "llmops/status.hpp"
#include "safetensors.hpp"

namespace llmops::lm {

class LlamaModel;

struct ModelInfo {
  LlamaConfig config;
  int64_t parameters = 0;                 // counted from the tensor headers
  std::map<std::string, int64_t> dtypes;  // dtype name -> number of tensors
  int64_t tensors = 0;
  int64_t bytes = 0;
  std::vector<std::string> files;
};
Result<ModelInfo> inspect_model(const std::filesystem::path& dir);

class Model {
 public:
  Model();
  ~Model();
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;

  static Result<Model> load(const std::filesystem::path& dir);
  static Result<Model> init(const LlamaConfig& config, uint64_t seed);

  const LlamaConfig& config() const;
  int64_t parameter_count() const;

  // input_ids: I64 (or I32) [B, T]. Returns F32 logits [B, T, vocab].
  Result<RawTensor> logits(const RawTensor& input_ids) const;
  // Mean next-token cross-entropy with labels = input_ids (as HF computes it).
  Result<double> loss(const RawTensor& input_ids) const;
  Result<std::vector<int64_t>> generate(const std::vector<int64_t>& prompt,
                                        const GenerationOptions& options) const;

  Status load_adapter(const std::filesystem::path& dir);
  void merge_adapter();
  bool has_adapter() const;
  // Sharded (model-0000N-of-0000M.safetensors + index) above max_shard_bytes.
  Status save(const std::filesystem::path& dir, DType dtype = DType::kF32,
              int64_t max_shard_bytes = int64_t{5} << 30) const;
  Status save_adapter(const std::filesystem::path& dir) const;

  // The torch-side model, for code that includes llama.hpp.
  LlamaModel& impl() { return *m_; }
  const LlamaModel& impl() const { return *m_; }

 private:
  std::unique_ptr<LlamaModel> m_;
};

// Sets libtorch's intra-op thread count (0: every core), once per process: the first call wins, and
// Model::load/init call it with 0, so a program that wants another count calls it before them.
// (Defined in llama.cpp; declared here too for torch-free callers.)
void set_torch_threads(int n);

}  // namespace llmops::lm
