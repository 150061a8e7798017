// See model_setup.hpp.
#include "trainers/torch_lm/model_setup.hpp"

#include <fstream>
#include <nlohmann/json.hpp>

namespace llmops::trainers {

Result<lm::LlamaModel> build_model(const ModelSpec& spec) {
  auto m =
      spec.base ? lm::LlamaModel::load(*spec.base) : lm::LlamaModel::init(spec.config, spec.seed);
  if (!m) return m.status();
  if (spec.lora)
    if (auto s = m->add_lora(*spec.lora, spec.seed + 1); !s) return s;
  return m;
}

Status save_trained_model(lm::LlamaModel& model, const ModelSpec& spec, const ModelOutputs& out) {
  if (spec.mode == "lora") {
    if (auto s = model.save_adapter(out.adapter_dir); !s) return s;
    if (spec.base) {
      nlohmann::json ac;
      std::ifstream(out.adapter_dir / "adapter_config.json") >> ac;
      ac["base_model_name_or_path"] = spec.base->filename().string();
      std::ofstream f(out.adapter_dir / "adapter_config.json", std::ios::binary | std::ios::trunc);
      f << ac.dump(2) << "\n";
      f.close();
      if (!f) return Status::internal("cannot write " + out.adapter_dir.string());
    }
  }
  if (out.model_dir.empty()) return Status::ok();
  if (spec.mode == "lora") model.merge_lora();
  return model.save(out.model_dir, out.dtype);
}

}  // namespace llmops::trainers
