// The torch-free Model facade over LlamaModel; see model.hpp.
#include "model.hpp"

#include <c10/core/InferenceMode.h>

#include "llama.hpp"

namespace llmops::lm {

namespace {
Result<at::Tensor> ids_tensor(const RawTensor& ids, int64_t vocab) {
  if (ids.dtype != DType::kI64 && ids.dtype != DType::kI32)
    return Status::invalid(std::string("input_ids must be I64 or I32, not ") +
                           dtype_name(ids.dtype));
  if (ids.shape.size() != 2 || ids.shape[0] < 1 || ids.shape[1] < 1)
    return Status::invalid("input_ids must have shape [batch, length] with both above zero");
  auto t = to_aten(ids).to(at::kLong);
  if (t.min().item<int64_t>() < 0 || t.max().item<int64_t>() >= vocab)
    return Status::invalid("input_ids holds an id outside the vocabulary [0, " +
                           std::to_string(vocab) + ")");
  return t;
}

template <typename F>
auto guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    return Status::internal(std::string("libtorch: ") + e.what());
  }
}
}  // namespace

Model::Model() = default;
Model::~Model() = default;
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;

Result<Model> Model::load(const std::filesystem::path& dir) {
  set_torch_threads(0);
  return guarded([&]() -> Result<Model> {
    auto m = LlamaModel::load(dir);
    if (!m) return m.status();
    Model out;
    out.m_ = std::make_unique<LlamaModel>(std::move(*m));
    return out;
  });
}

Result<Model> Model::init(const LlamaConfig& config, uint64_t seed) {
  set_torch_threads(0);
  return guarded([&]() -> Result<Model> {
    auto m = LlamaModel::init(config, seed);
    if (!m) return m.status();
    Model out;
    out.m_ = std::make_unique<LlamaModel>(std::move(*m));
    return out;
  });
}

const LlamaConfig& Model::config() const {
  return m_->config;
}
int64_t Model::parameter_count() const {
  return m_->parameter_count();
}

Result<RawTensor> Model::logits(const RawTensor& input_ids) const {
  return guarded([&]() -> Result<RawTensor> {
    c10::InferenceMode guard;
    auto ids = ids_tensor(input_ids, m_->config.vocab_size);
    if (!ids) return ids.status();
    return from_aten(m_->forward(*ids), DType::kF32);
  });
}

Result<double> Model::loss(const RawTensor& input_ids) const {
  return guarded([&]() -> Result<double> {
    c10::InferenceMode guard;
    auto ids = ids_tensor(input_ids, m_->config.vocab_size);
    if (!ids) return ids.status();
    if (ids->size(1) < 2) return Status::invalid("the loss needs at least two tokens per row");
    return causal_lm_loss(m_->forward(*ids), *ids).item<double>();
  });
}

Result<std::vector<int64_t>> Model::generate(const std::vector<int64_t>& prompt,
                                             const GenerationOptions& options) const {
  return guarded([&]() -> Result<std::vector<int64_t>> {
    if (prompt.empty()) return Status::invalid("generation needs a non-empty prompt");
    for (auto id : prompt)
      if (id < 0 || id >= m_->config.vocab_size)
        return Status::invalid("prompt id " + std::to_string(id) + " is outside the vocabulary");
    return m_->generate(prompt, options);
  });
}

Status Model::load_adapter(const std::filesystem::path& dir) {
  return guarded([&] { return m_->load_adapter(dir); });
}
void Model::merge_adapter() {
  m_->merge_lora();
}
bool Model::has_adapter() const {
  return m_->lora.has_value();
}
Status Model::save(const std::filesystem::path& dir, DType dtype, int64_t max_shard_bytes) const {
  return guarded([&] { return m_->save(dir, dtype, max_shard_bytes); });
}
Status Model::save_adapter(const std::filesystem::path& dir) const {
  return guarded([&] { return m_->save_adapter(dir); });
}

}  // namespace llmops::lm
