// LlamaModel: forward pass, initialisation, HF folder load and save; see llama.hpp.
// The numerics follow transformers' modeling_llama (eager attention, float32 softmax, RMSNorm in
// float32, rotary embeddings from float32 inverse frequencies), which is what the fixtures pin.
#include "llama.hpp"
#include "fused.hpp"
#include "ops.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <limits>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

namespace llmops::lm {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

at::ScalarType aten_type(DType d) {
  switch (d) {
    case DType::kF32:
      return at::kFloat;
    case DType::kF16:
      return at::kHalf;
    case DType::kBF16:
      return at::kBFloat16;
    case DType::kF64:
      return at::kDouble;
    case DType::kI64:
      return at::kLong;
    case DType::kI32:
      return at::kInt;
    case DType::kI16:
      return at::kShort;
    case DType::kI8:
      return at::kChar;
    case DType::kU8:
      return at::kByte;
    case DType::kBool:
      return at::kBool;
  }
  return at::kFloat;
}

using fused::rms_norm;

std::string shape_str(at::IntArrayRef s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

Result<std::map<std::string, RawTensor>> read_weights(const fs::path& dir) {
  std::map<std::string, RawTensor> all;
  const auto index = dir / "model.safetensors.index.json";
  if (fs::exists(index)) {
    json j;
    try {
      std::ifstream in(index);
      j = json::parse(in);
    } catch (const std::exception& e) {
      return Status::invalid(index.string() + ": invalid JSON: " + e.what());
    }
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      return Status::invalid(index.string() + ": no weight_map");
    std::set<std::string> shards;
    for (auto& [name, file] : j["weight_map"].items()) shards.insert(file.get<std::string>());
    for (const auto& shard : shards) {
      auto f = read_safetensors(dir / shard);
      if (!f) return f.status();
      for (auto& [name, t] : f->tensors) all.emplace(name, std::move(t));
    }
    return all;
  }
  const auto single = dir / "model.safetensors";
  if (!fs::exists(single)) {
    if (fs::exists(dir / "pytorch_model.bin"))
      return Status::invalid(
          dir.string() +
          ": only safetensors weights are supported (found pytorch_model.bin); "
          "convert them with transformers' save_pretrained(safe_serialization=True)");
    return Status::not_found(dir.string() +
                             ": no model.safetensors or model.safetensors.index.json");
  }
  auto f = read_safetensors(single);
  if (!f) return f.status();
  return std::move(f->tensors);
}

}  // namespace

void set_torch_threads(int n) {
  static std::once_flag once;
  std::call_once(once, [n] {
    unsigned hw = std::thread::hardware_concurrency();
    at::set_num_threads(n > 0 ? n : static_cast<int>(hw ? hw : 1));
  });
}

void retain_freed_memory() {
#ifdef __GLIBC__
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);  // only blocks of 1 GiB and more get their own mapping
    mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());  // never give the heap top back
  });
#endif
}

at::Tensor to_aten(const RawTensor& t, bool as_float32) {
  auto out = at::empty(t.shape, at::TensorOptions().dtype(aten_type(t.dtype)));
  if (!t.data.empty()) std::memcpy(out.data_ptr(), t.data.data(), t.data.size());
  if (as_float32 && out.is_floating_point()) out = out.to(at::kFloat);
  return out;
}

RawTensor from_aten(const at::Tensor& t, DType dtype) {
  auto c = t.detach().to(at::kCPU).to(aten_type(dtype)).contiguous();
  RawTensor r;
  r.dtype = dtype;
  r.shape.assign(c.sizes().begin(), c.sizes().end());
  r.data.resize(c.numel() * c.element_size());
  if (!r.data.empty()) std::memcpy(r.data.data(), c.data_ptr(), r.data.size());
  return r;
}

at::Tensor Linear::forward(const at::Tensor& x, bool training) const {
  auto y = at::linear(x, weight, bias.defined() ? c10::optional<at::Tensor>(bias) : c10::nullopt);
  if (lora_a.defined()) {
    auto h = (training && lora_dropout > 0) ? at::dropout(x, lora_dropout, true) : x;
    y = y + at::linear(at::linear(h, lora_a), lora_b) * lora_scale;
  }
  return y;
}

void LlamaModel::compute_rope() {
  const auto& c = config;
  const int64_t d = c.head_dim;
  auto exponent = at::arange(0, d, 2, at::kLong).to(at::kFloat) / static_cast<double>(d);
  auto inv = 1.0 / at::pow(c.rope_theta, exponent);
  if (c.rope_type == "linear") {
    inv = inv / c.rope_factor;
  } else if (c.rope_type == "llama3") {
    const double old = static_cast<double>(c.rope_original_max_position);
    const double low_wl = old / c.rope_low_freq_factor, high_wl = old / c.rope_high_freq_factor;
    auto wavelen = 2 * M_PI / inv;
    auto scaled = at::where(wavelen > low_wl, inv / c.rope_factor, inv);
    auto smooth = (old / wavelen - c.rope_low_freq_factor) /
                  (c.rope_high_freq_factor - c.rope_low_freq_factor);
    auto smoothed = (1 - smooth) * scaled / c.rope_factor + smooth * scaled;
    auto medium = (wavelen >= high_wl).logical_and(wavelen <= low_wl);
    inv = at::where(medium, smoothed, scaled);
  }
  inv_freq_ = inv;
}

at::Tensor segment_starts(const at::Tensor& ids, int64_t separator) {
  const int64_t T = ids.size(1);
  auto begins = at::zeros_like(ids);
  if (T > 1) {
    auto after = ids.slice(1, 0, T - 1).eq(separator);  // position t + 1 starts a document
    begins.slice(1, 1).copy_(after.to(at::kLong) * at::arange(1, T, ids.options()));
  }
  return std::get<0>(begins.cummax(1));
}

at::Tensor LlamaModel::forward(const at::Tensor& ids, KVCache* cache, bool training,
                               const at::Tensor& starts) const {
  const auto& c = config;
  const int64_t B = ids.size(0), T = ids.size(1);
  const int64_t nh = c.num_attention_heads, nkv = c.num_key_value_heads, D = c.head_dim;
  const int64_t past = cache ? cache->length : 0;
  if (cache && cache->k.size() != layers.size()) {
    cache->k.assign(layers.size(), at::Tensor());
    cache->v.assign(layers.size(), at::Tensor());
  }
  auto x = at::embedding(embed, ids);
  auto pos = at::arange(past, past + T, at::kLong).to(at::kFloat).view({1, T});
  const auto rt = ops::rope_tables(inv_freq_, pos);  // queries' tables carry the scale
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& L = layers[i];
    auto h = rms_norm(x, L.input_norm, c.rms_norm_eps);
    auto q = fused::rope(L.q.forward(h, training).view({B, T, nh, D}), rt.cos_q, rt.sin_q);
    auto k = fused::rope(L.k.forward(h, training).view({B, T, nkv, D}), rt.cos, rt.sin);
    auto v = L.v.forward(h, training).view({B, T, nkv, D}).transpose(1, 2);
    if (cache) {
      if (cache->k[i].defined()) {
        k = at::cat({cache->k[i], k}, 2);
        v = at::cat({cache->v[i], v}, 2);
      }
      cache->k[i] = k;
      cache->v[i] = v;
    }
    if (nkv != nh) {
      k = k.repeat_interleave(nh / nkv, 1);
      v = v.repeat_interleave(nh / nkv, 1);
    }
    auto probs =
        fused::causal_softmax(at::matmul(q, k.transpose(2, 3)), starts).to(q.scalar_type());
    auto attn = at::matmul(probs, v).transpose(1, 2).reshape({B, T, nh * D});
    x = x + L.o.forward(attn, training);
    h = rms_norm(x, L.post_norm, c.rms_norm_eps);
    x = x +
        L.down.forward(at::silu(L.gate.forward(h, training)) * L.up.forward(h, training), training);
  }
  if (cache) cache->length = past + T;
  x = rms_norm(x, norm, c.rms_norm_eps);
  return at::linear(x, lm_head).to(at::kFloat);
}

at::Tensor next_token_labels(const at::Tensor& labels) {
  return at::cat({labels.slice(1, 1), at::full({labels.size(0), 1}, -100, labels.options())}, 1);
}

at::Tensor causal_lm_loss(const at::Tensor& logits, const at::Tensor& labels,
                          at::Reduction::Reduction reduction) {
  // The labels move one position left (the last one is ignored) rather than the logits one
  // position right: a slice of the logits would be copied, and its gradient zero-filled and
  // copied back, three passes over the largest tensor of the step.
  const int64_t V = logits.size(-1);
  return fused::cross_entropy(logits.reshape({-1, V}), next_token_labels(labels).reshape({-1}),
                              reduction == at::Reduction::Mean);
}

std::vector<std::pair<std::string, at::Tensor>> LlamaModel::named_weights() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  out.emplace_back("model.embed_tokens.weight", embed);
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& L = layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    out.emplace_back(p + "input_layernorm.weight", L.input_norm);
    out.emplace_back(p + "post_attention_layernorm.weight", L.post_norm);
    const std::pair<const char*, const Linear*> lin[] = {
        {"self_attn.q_proj", &L.q}, {"self_attn.k_proj", &L.k}, {"self_attn.v_proj", &L.v},
        {"self_attn.o_proj", &L.o}, {"mlp.gate_proj", &L.gate}, {"mlp.up_proj", &L.up},
        {"mlp.down_proj", &L.down}};
    for (const auto& [n, l] : lin) {
      out.emplace_back(p + n + ".weight", l->weight);
      if (l->bias.defined()) out.emplace_back(p + n + ".bias", l->bias);
    }
  }
  out.emplace_back("model.norm.weight", norm);
  if (!config.tie_word_embeddings) out.emplace_back("lm_head.weight", lm_head);
  return out;
}

std::vector<at::Tensor> LlamaModel::parameters(bool lora_only) const {
  std::vector<at::Tensor> out;
  if (lora_only) {
    for (auto& [n, t] : named_lora()) out.push_back(t);
  } else {
    for (auto& [n, t] : named_weights()) out.push_back(t);
  }
  return out;
}

int64_t LlamaModel::parameter_count() const {
  int64_t n = 0;
  for (auto& [name, t] : named_weights()) n += t.numel();
  return n;
}

// Builds the layer structure with tensors from `get(name, shape)`, which loads or creates them.
template <typename Get>
static Status build(LlamaModel& m, Get&& get) {
  const auto& c = m.config;
  const int64_t H = c.hidden_size, I = c.intermediate_size, q = c.num_attention_heads * c.head_dim,
                kv = c.num_key_value_heads * c.head_dim;
  Status st;
  auto take = [&](const std::string& name, std::vector<int64_t> shape) {
    if (!st) return at::Tensor();
    auto r = get(name, shape);
    if (!r) {
      st = r.status();
      return at::Tensor();
    }
    return *r;
  };
  m.embed = take("model.embed_tokens.weight", {c.vocab_size, H});
  m.layers.resize(c.num_hidden_layers);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    auto& L = m.layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    L.input_norm = take(p + "input_layernorm.weight", {H});
    L.post_norm = take(p + "post_attention_layernorm.weight", {H});
    auto lin = [&](Linear& l, const std::string& n, int64_t out, int64_t in, bool bias) {
      l.weight = take(p + n + ".weight", {out, in});
      if (bias) l.bias = take(p + n + ".bias", {out});
    };
    lin(L.q, "self_attn.q_proj", q, H, c.attention_bias);
    lin(L.k, "self_attn.k_proj", kv, H, c.attention_bias);
    lin(L.v, "self_attn.v_proj", kv, H, c.attention_bias);
    lin(L.o, "self_attn.o_proj", H, q, c.o_bias);
    lin(L.gate, "mlp.gate_proj", I, H, c.mlp_bias);
    lin(L.up, "mlp.up_proj", I, H, c.mlp_bias);
    lin(L.down, "mlp.down_proj", H, I, c.mlp_bias);
  }
  m.norm = take("model.norm.weight", {H});
  m.lm_head = c.tie_word_embeddings ? m.embed : take("lm_head.weight", {c.vocab_size, H});
  m.compute_rope();
  return st;
}

Result<LlamaModel> LlamaModel::init(const LlamaConfig& config, uint64_t seed) {
  if (auto s = config.validate(); !s) return s;
  LlamaModel m;
  m.config = config;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto st = build(
      m, [&](const std::string& name, const std::vector<int64_t>& shape) -> Result<at::Tensor> {
        if (shape.size() == 1) {
          if (name.find("norm") != std::string::npos) return at::ones(shape, at::kFloat);
          return at::zeros(shape, at::kFloat);  // biases
        }
        return at::empty(shape, at::kFloat).normal_(0.0, 0.02, gen);
      });
  if (!st) return st;
  return m;
}

Result<LlamaModel> LlamaModel::load(const fs::path& dir) {
  auto cfg = read_llama_config(dir / "config.json");
  if (!cfg) return cfg.status();
  auto weights = read_weights(dir);
  if (!weights) return weights.status();
  LlamaModel m;
  m.config = *cfg;
  auto st = build(
      m, [&](const std::string& name, const std::vector<int64_t>& shape) -> Result<at::Tensor> {
        auto it = weights->find(name);
        if (it == weights->end())
          return Status::invalid(dir.string() + ": missing tensor '" + name + "'");
        if (it->second.shape != shape)
          return Status::invalid(dir.string() + ": tensor '" + name + "' has shape " +
                                 shape_str(it->second.shape) + ", the config needs " +
                                 shape_str(shape));
        if (it->second.dtype != DType::kF32 && it->second.dtype != DType::kF16 &&
            it->second.dtype != DType::kBF16 && it->second.dtype != DType::kF64)
          return Status::invalid(dir.string() + ": tensor '" + name + "' has dtype " +
                                 dtype_name(it->second.dtype) + ", weights must be floating point");
        auto t = to_aten(it->second, true);
        weights->erase(it);  // free host memory as we go
        return t;
      });
  if (!st) return st;
  return m;
}

Status LlamaModel::save(const fs::path& dir, DType dtype, int64_t max_shard_bytes) const {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::internal("cannot create " + dir.string() + ": " + ec.message());
  LlamaConfig c = config;
  c.torch_dtype = dtype == DType::kBF16 ? "bfloat16" : dtype == DType::kF16 ? "float16" : "float32";
  {
    std::ofstream out(dir / "config.json");
    out << llama_config_to_json(c);
    if (!out) return Status::internal("cannot write " + (dir / "config.json").string());
  }
  std::vector<std::map<std::string, RawTensor>> shards(1);
  int64_t in_shard = 0, total = 0;
  auto weights = named_weights();
  std::sort(weights.begin(), weights.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [name, t] : weights) {
    auto raw = from_aten(t, dtype);
    const auto bytes = static_cast<int64_t>(raw.data.size());
    if (in_shard > 0 && in_shard + bytes > max_shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    in_shard += bytes;
    total += bytes;
    shards.back().emplace(name, std::move(raw));
  }
  fs::remove(dir / "model.safetensors", ec);
  fs::remove(dir / "model.safetensors.index.json", ec);
  if (shards.size() == 1) return write_safetensors(dir / "model.safetensors", shards[0]);
  json index = {{"metadata", {{"total_size", total}}}, {"weight_map", json::object()}};
  for (size_t i = 0; i < shards.size(); ++i) {
    char file[64];
    std::snprintf(file, sizeof file, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    if (auto s = write_safetensors(dir / file, shards[i]); !s) return s;
    for (const auto& [name, t] : shards[i]) index["weight_map"][name] = file;
  }
  std::ofstream out(dir / "model.safetensors.index.json");
  out << index.dump(2) << "\n";
  return out ? Status::ok() : Status::internal("cannot write the safetensors index");
}

ops::RopeTables ops::rope_tables(const at::Tensor& inv_freq, const at::Tensor& positions) {
  auto freqs = positions.unsqueeze(-1) * inv_freq;  // [C, T, D / 2]
  auto emb = at::cat({freqs, freqs}, -1);
  const double scale = 1.0 / std::sqrt(static_cast<double>(emb.size(-1)));
  RopeTables t{emb.cos(), emb.sin(), {}, {}};
  t.cos_q = t.cos * scale;
  t.sin_q = t.sin * scale;
  return t;
}

}  // namespace llmops::lm
