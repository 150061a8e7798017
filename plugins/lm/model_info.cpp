// inspect_model: what `llmops model info` prints, from config.json and the safetensors headers
// only (no weights are read, no libtorch).
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "model.hpp"

namespace llmops::lm {

Result<ModelInfo> inspect_model(const std::filesystem::path& dir) {
  ModelInfo info;
  auto cfg = read_llama_config(dir / "config.json");
  if (!cfg) return cfg.status();
  info.config = *cfg;
  std::set<std::string> files;
  const auto index = dir / "model.safetensors.index.json";
  if (std::filesystem::exists(index)) {
    try {
      std::ifstream in(index);
      auto j = nlohmann::json::parse(in);
      for (auto& [name, file] : j.at("weight_map").items()) files.insert(file.get<std::string>());
    } catch (const std::exception& e) {
      return Status::invalid(index.string() + ": " + e.what());
    }
  } else if (std::filesystem::exists(dir / "model.safetensors")) {
    files.insert("model.safetensors");
  } else {
    return Status::not_found(dir.string() +
                             ": no model.safetensors or model.safetensors.index.json");
  }
  for (const auto& f : files) {
    auto h = read_safetensors_header(dir / f);
    if (!h) return h.status();
    info.files.push_back(f);
    for (const auto& [name, t] : h->tensors) {
      info.parameters += t.numel();
      info.bytes += t.numel() * static_cast<int64_t>(dtype_size(t.dtype));
      ++info.dtypes[dtype_name(t.dtype)];
      ++info.tensors;
    }
  }
  return info;
}

}  // namespace llmops::lm
