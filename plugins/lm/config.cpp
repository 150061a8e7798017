// LlamaConfig parsing and writing; see config.hpp.
#include "config.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace llmops::lm {
namespace {

using nlohmann::json;

int64_t get_int(const json& j, const char* key, int64_t def) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (it->is_array()) return it->empty() ? def : (*it)[0].get<int64_t>();  // eos lists
  return it->get<int64_t>();
}

double get_double(const json& j, const char* key, double def) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? def : it->get<double>();
}

bool get_bool(const json& j, const char* key, bool def) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? def : it->get<bool>();
}

}  // namespace

Status LlamaConfig::validate() const {
  auto positive = [](int64_t v) { return v > 0; };
  if (!positive(vocab_size) || !positive(hidden_size) || !positive(intermediate_size) ||
      !positive(num_hidden_layers) || !positive(num_attention_heads) ||
      !positive(num_key_value_heads) || !positive(head_dim))
    return Status::invalid(
        "sizes must be positive (vocab_size, hidden_size, intermediate_size, "
        "num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim)");
  if (num_attention_heads % num_key_value_heads != 0)
    return Status::invalid("num_attention_heads (" + std::to_string(num_attention_heads) +
                           ") is not a multiple of num_key_value_heads (" +
                           std::to_string(num_key_value_heads) + ")");
  if (head_dim % 2 != 0) return Status::invalid("head_dim must be even for rotary embeddings");
  if (rope_type != "default" && rope_type != "linear" && rope_type != "llama3")
    return Status::invalid("unsupported rope_type '" + rope_type +
                           "' (supported: default, linear, llama3)");
  return Status::ok();
}

int64_t LlamaConfig::parameter_count() const {
  const int64_t h = hidden_size, q = num_attention_heads * head_dim,
                kv = num_key_value_heads * head_dim;
  int64_t layer = h * q + 2 * h * kv + q * h + 3 * h * intermediate_size + 2 * h;
  if (attention_bias) layer += q + 2 * kv;
  if (o_bias) layer += h;
  if (mlp_bias) layer += 2 * intermediate_size + h;
  return vocab_size * h * (tie_word_embeddings ? 1 : 2) + num_hidden_layers * layer + h;
}

Result<LlamaConfig> parse_llama_config(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    return Status::invalid(where + ": invalid JSON: " + e.what());
  }
  if (!j.is_object()) return Status::invalid(where + ": not a JSON object");
  LlamaConfig c;
  try {
    std::string arch;
    if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty())
      arch = j["architectures"][0].get<std::string>();
    c.model_type = j.value("model_type", std::string());
    if (arch.empty()) {
      if (c.model_type == "llama") arch = "LlamaForCausalLM";
      if (c.model_type == "mistral") arch = "MistralForCausalLM";
      if (c.model_type == "qwen2") arch = "Qwen2ForCausalLM";
    }
    if (arch != "LlamaForCausalLM" && arch != "MistralForCausalLM" && arch != "Qwen2ForCausalLM")
      return Status::invalid(where + ": unknown architecture '" +
                             (arch.empty() ? c.model_type : arch) +
                             "' (supported: LlamaForCausalLM, MistralForCausalLM, "
                             "Qwen2ForCausalLM)");
    c.architecture = arch;
    const bool qwen = arch == "Qwen2ForCausalLM";
    if (c.model_type.empty()) c.model_type = qwen ? "qwen2" : "llama";
    const auto act = j.value("hidden_act", std::string("silu"));
    if (act != "silu" && act != "swish")
      return Status::invalid(where + ": hidden_act '" + act + "' is not supported (only silu)");
    c.vocab_size = get_int(j, "vocab_size", c.vocab_size);
    c.hidden_size = get_int(j, "hidden_size", c.hidden_size);
    c.intermediate_size = get_int(j, "intermediate_size", c.intermediate_size);
    c.num_hidden_layers = get_int(j, "num_hidden_layers", c.num_hidden_layers);
    c.num_attention_heads = get_int(j, "num_attention_heads", c.num_attention_heads);
    c.num_key_value_heads = get_int(j, "num_key_value_heads", c.num_attention_heads);
    c.head_dim = get_int(j, "head_dim",
                         c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0);
    c.max_position_embeddings = get_int(j, "max_position_embeddings", c.max_position_embeddings);
    c.rms_norm_eps = get_double(j, "rms_norm_eps", c.rms_norm_eps);
    // transformers 5 moved rope settings into rope_parameters; 4.x wrote rope_theta + rope_scaling.
    c.rope_theta = get_double(j, "rope_theta", c.rope_theta);
    for (const char* key : {"rope_scaling", "rope_parameters"}) {
      auto it = j.find(key);
      if (it == j.end() || !it->is_object()) continue;
      const json& r = *it;
      c.rope_theta = get_double(r, "rope_theta", c.rope_theta);
      std::string type = r.value("rope_type", r.value("type", std::string("default")));
      c.rope_type = type;
      c.rope_factor = get_double(r, "factor", c.rope_factor);
      c.rope_low_freq_factor = get_double(r, "low_freq_factor", c.rope_low_freq_factor);
      c.rope_high_freq_factor = get_double(r, "high_freq_factor", c.rope_high_freq_factor);
      c.rope_original_max_position =
          get_int(r, "original_max_position_embeddings", c.rope_original_max_position);
    }
    c.attention_bias = get_bool(j, "attention_bias", qwen);
    c.o_bias = !qwen && c.attention_bias;
    c.mlp_bias = get_bool(j, "mlp_bias", false);
    c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", false);
    c.bos_token_id = get_int(j, "bos_token_id", -1);
    c.eos_token_id = get_int(j, "eos_token_id", -1);
    c.pad_token_id = get_int(j, "pad_token_id", -1);
    c.torch_dtype = j.value("dtype", j.value("torch_dtype", std::string("float32")));
  } catch (const std::exception& e) {
    return Status::invalid(where + ": a field has the wrong type: " + e.what());
  }
  c.raw_json = j.dump();
  if (auto s = c.validate(); !s) return Status::invalid(where + ": " + s.message());
  return c;
}

Result<LlamaConfig> read_llama_config(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return Status::not_found("cannot read " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_llama_config(ss.str(), path.string());
}

std::string llama_config_to_json(const LlamaConfig& c) {
  json j = json::parse(c.raw_json, nullptr, false);
  if (!j.is_object()) j = json::object();
  j.erase("rope_scaling");
  j["architectures"] = {c.architecture};
  j["model_type"] = c.model_type;
  j["hidden_act"] = "silu";
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  json rope = {{"rope_type", c.rope_type}, {"rope_theta", c.rope_theta}};
  if (c.rope_type != "default") rope["factor"] = c.rope_factor;
  if (c.rope_type == "llama3") {
    rope["low_freq_factor"] = c.rope_low_freq_factor;
    rope["high_freq_factor"] = c.rope_high_freq_factor;
    rope["original_max_position_embeddings"] = c.rope_original_max_position;
  }
  j["rope_parameters"] = rope;
  if (c.rope_type != "default") j["rope_scaling"] = rope;
  if (c.architecture != "Qwen2ForCausalLM") j["attention_bias"] = c.attention_bias;
  j["mlp_bias"] = c.mlp_bias;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  auto id = [](int64_t v) { return v < 0 ? json(nullptr) : json(v); };
  j["bos_token_id"] = id(c.bos_token_id);
  j["eos_token_id"] = id(c.eos_token_id);
  j["pad_token_id"] = id(c.pad_token_id);
  j["torch_dtype"] = c.torch_dtype;
  j["dtype"] = c.torch_dtype;
  return j.dump(2) + "\n";
}

}  // namespace llmops::lm
