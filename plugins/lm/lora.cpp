// LoRA on LlamaModel, in PEFT's format (adapter_config.json + adapter_model.safetensors with
// names base_model.model.<module>.lora_A.weight [r, in] / lora_B.weight [out, r]).
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "llama.hpp"

namespace llmops::lm {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr char kPrefix[] = "base_model.model.";

bool targeted(const LoraConfig& cfg, const std::string& module) {
  if (!cfg.target_regex.empty()) return std::regex_match(module, std::regex(cfg.target_regex));
  for (const auto& t : cfg.target_modules) {
    if (module == t) return true;
    if (module.size() > t.size() && module.compare(module.size() - t.size(), t.size(), t) == 0 &&
        module[module.size() - t.size() - 1] == '.')
      return true;
  }
  return false;
}

}  // namespace

double LoraConfig::scale() const {
  return use_rslora ? alpha / std::sqrt(static_cast<double>(r)) : alpha / static_cast<double>(r);
}

void LlamaModel::for_each_linear(const std::function<void(const std::string&, Linear&)>& fn) {
  for (size_t i = 0; i < layers.size(); ++i) {
    auto& L = layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    fn(p + "self_attn.q_proj", L.q);
    fn(p + "self_attn.k_proj", L.k);
    fn(p + "self_attn.v_proj", L.v);
    fn(p + "self_attn.o_proj", L.o);
    fn(p + "mlp.gate_proj", L.gate);
    fn(p + "mlp.up_proj", L.up);
    fn(p + "mlp.down_proj", L.down);
  }
}

std::vector<std::pair<std::string, at::Tensor>> LlamaModel::named_lora() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  const_cast<LlamaModel*>(this)->for_each_linear([&](const std::string& name, Linear& l) {
    if (!l.has_lora()) return;
    out.emplace_back(kPrefix + name + ".lora_A.weight", l.lora_a);
    out.emplace_back(kPrefix + name + ".lora_B.weight", l.lora_b);
  });
  return out;
}

Status LlamaModel::add_lora(const LoraConfig& cfg, uint64_t seed) {
  if (cfg.r <= 0) return Status::invalid("LoRA rank r must be positive");
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  int matched = 0;
  try {
    for_each_linear([&](const std::string& name, Linear& l) {
      if (!targeted(cfg, name)) return;
      const int64_t in = l.weight.size(1), out = l.weight.size(0);
      // PEFT: kaiming_uniform_(a=sqrt(5)) on A, i.e. U(-1/sqrt(in), 1/sqrt(in)); B starts at zero.
      const double bound = 1.0 / std::sqrt(static_cast<double>(in));
      l.lora_a = at::empty({cfg.r, in}, at::kFloat).uniform_(-bound, bound, gen);
      l.lora_b = at::zeros({out, cfg.r}, at::kFloat);
      l.lora_scale = cfg.scale();
      l.lora_dropout = cfg.dropout;
      ++matched;
    });
  } catch (const std::regex_error& e) {
    return Status::invalid("LoRA target_modules is not a valid regex: " + std::string(e.what()));
  }
  if (matched == 0)
    return Status::invalid(
        "LoRA target_modules match no module (try q_proj, k_proj, v_proj, "
        "o_proj, gate_proj, up_proj, down_proj)");
  lora = cfg;
  return Status::ok();
}

Status LlamaModel::load_adapter(const fs::path& dir) {
  const auto cfg_path = dir / "adapter_config.json";
  json j;
  try {
    std::ifstream in(cfg_path);
    if (!in) return Status::not_found("cannot read " + cfg_path.string());
    j = json::parse(in);
  } catch (const std::exception& e) {
    return Status::invalid(cfg_path.string() + ": invalid JSON: " + e.what());
  }
  const std::string where = cfg_path.string() + ": ";
  LoraConfig cfg;
  try {
    if (j.value("peft_type", std::string("LORA")) != "LORA")
      return Status::invalid(where + "peft_type '" + j["peft_type"].get<std::string>() +
                             "' is not supported (only LORA)");
    auto flag = [&](const char* k) {
      return j.contains(k) && j[k].is_boolean() && j[k].get<bool>();
    };
    auto nonempty = [&](const char* k) {
      return j.contains(k) && !j[k].is_null() && !j[k].empty();
    };
    if (flag("use_dora")) return Status::invalid(where + "DoRA adapters are not supported");
    if (flag("fan_in_fan_out")) return Status::invalid(where + "fan_in_fan_out is not supported");
    if (j.value("bias", std::string("none")) != "none")
      return Status::invalid(where + "LoRA bias training is not supported (bias must be none)");
    for (const char* k :
         {"modules_to_save", "rank_pattern", "alpha_pattern", "layers_to_transform"})
      if (nonempty(k)) return Status::invalid(where + k + " is not supported");
    cfg.r = j.at("r").get<int64_t>();
    cfg.alpha = j.value("lora_alpha", static_cast<double>(cfg.r));
    cfg.dropout = j.value("lora_dropout", 0.0);
    cfg.use_rslora = flag("use_rslora");
    const auto& tm = j.at("target_modules");
    if (tm.is_string()) {
      cfg.target_regex = tm.get<std::string>();
      cfg.target_modules.clear();
    } else {
      cfg.target_modules = tm.get<std::vector<std::string>>();
    }
  } catch (const std::exception& e) {
    return Status::invalid(where + "bad field: " + e.what());
  }
  if (cfg.r <= 0) return Status::invalid(where + "r must be positive");
  auto file = read_safetensors(dir / "adapter_model.safetensors");
  if (!file) return file.status();
  std::map<std::string, Linear*> modules;
  for_each_linear([&](const std::string& name, Linear& l) { modules[name] = &l; });
  std::map<Linear*, std::pair<at::Tensor, at::Tensor>> found;
  for (auto& [name, raw] : file->tensors) {
    std::string n = name;
    if (n.rfind(kPrefix, 0) == 0) n = n.substr(sizeof(kPrefix) - 1);
    static const std::regex re(R"((.*)\.lora_([AB])(\.default)?\.weight)");
    std::smatch m;
    if (!std::regex_match(n, m, re))
      return Status::invalid(dir.string() + ": unexpected adapter tensor '" + name + "'");
    auto it = modules.find(m[1].str());
    if (it == modules.end())
      return Status::invalid(dir.string() + ": adapter tensor '" + name +
                             "' names no module of this model");
    auto t = to_aten(raw, true);
    Linear& l = *it->second;
    const bool is_a = m[2].str() == "A";
    const std::vector<int64_t> want = is_a ? std::vector<int64_t>{cfg.r, l.weight.size(1)}
                                           : std::vector<int64_t>{l.weight.size(0), cfg.r};
    if (t.sizes().vec() != want)
      return Status::invalid(dir.string() + ": adapter tensor '" + name + "' has the wrong shape" +
                             " for rank " + std::to_string(cfg.r) + " on this model");
    (is_a ? found[&l].first : found[&l].second) = t;
  }
  if (found.empty()) return Status::invalid(dir.string() + ": the adapter has no LoRA tensors");
  for (auto& [l, ab] : found) {
    if (!ab.first.defined() || !ab.second.defined())
      return Status::invalid(dir.string() + ": a module has lora_A without lora_B or vice versa");
    l->lora_a = ab.first;
    l->lora_b = ab.second;
    l->lora_scale = cfg.scale();
    l->lora_dropout = cfg.dropout;
  }
  lora = cfg;
  return Status::ok();
}

Status LlamaModel::save_adapter(const fs::path& dir) const {
  if (!lora) return Status::precondition("the model has no LoRA adapter to save");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::internal("cannot create " + dir.string() + ": " + ec.message());
  json j = {{"peft_type", "LORA"},
            {"task_type", "CAUSAL_LM"},
            {"r", lora->r},
            {"lora_alpha", lora->alpha},
            {"lora_dropout", lora->dropout},
            {"bias", "none"},
            {"fan_in_fan_out", false},
            {"inference_mode", true},
            {"init_lora_weights", true},
            {"use_rslora", lora->use_rslora},
            {"use_dora", false},
            {"modules_to_save", nullptr},
            {"layers_to_transform", nullptr},
            {"rank_pattern", json::object()},
            {"alpha_pattern", json::object()},
            {"base_model_name_or_path", nullptr}};
  if (!lora->target_regex.empty())
    j["target_modules"] = lora->target_regex;
  else
    j["target_modules"] = lora->target_modules;
  {
    std::ofstream out(dir / "adapter_config.json");
    out << j.dump(2) << "\n";
    if (!out) return Status::internal("cannot write adapter_config.json");
  }
  std::map<std::string, RawTensor> tensors;
  for (const auto& [name, t] : named_lora()) tensors.emplace(name, from_aten(t, DType::kF32));
  return write_safetensors(dir / "adapter_model.safetensors", tensors);
}

void LlamaModel::merge_lora() {
  at::NoGradGuard no_grad;
  for_each_linear([](const std::string&, Linear& l) {
    if (!l.has_lora()) return;
    l.weight = l.weight.detach() + at::matmul(l.lora_b.detach(), l.lora_a.detach()) * l.lora_scale;
    l.lora_a = at::Tensor();
    l.lora_b = at::Tensor();
    l.lora_scale = 0;
  });
  lora.reset();
}

}  // namespace llmops::lm
