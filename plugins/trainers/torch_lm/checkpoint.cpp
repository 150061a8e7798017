// Checkpoint save/load; see checkpoint.hpp.
#include "trainers/torch_lm/checkpoint.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "lm/llama.hpp"

namespace llmops::trainers {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr char kFormat[] = "llmops.torch-lm.checkpoint";

std::string folder_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return buf;
}

std::vector<std::pair<int64_t, fs::path>> list(const fs::path& dir) {
  std::vector<std::pair<int64_t, fs::path>> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const auto name = e.path().filename().string();
    if (name.rfind("step-", 0) != 0 || !fs::exists(e.path() / "state.json")) continue;
    try {
      out.emplace_back(std::stoll(name.substr(5)), e.path());
    } catch (...) {
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Status save_checkpoint(const fs::path& dir, const CheckpointState& st, const NamedTensors& params,
                       AdamW& opt, int64_t keep) {
  std::error_code ec;
  const auto final_dir = dir / folder_name(st.step);
  const auto tmp = dir / (".tmp-" + folder_name(st.step));
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return Status::internal("cannot create checkpoint folder " + tmp.string());
  std::map<std::string, lm::RawTensor> tensors;
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& name = params[i].first;
    tensors.emplace("param/" + name, lm::from_aten(params[i].second, lm::DType::kF32));
    tensors.emplace("exp_avg/" + name, lm::from_aten(opt.exp_avg()[i], lm::DType::kF32));
    tensors.emplace("exp_avg_sq/" + name, lm::from_aten(opt.exp_avg_sq()[i], lm::DType::kF32));
  }
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    tensors.emplace("rng/cpu", lm::from_aten(gen.get_state(), lm::DType::kU8));
  }
  if (auto s = lm::write_safetensors(tmp / "tensors.safetensors", tensors); !s) return s;
  json j = {{"format", kFormat},
            {"version", kCheckpointVersion},
            {"step", st.step},
            {"fingerprint", st.fingerprint},
            {"adam_steps", opt.steps()},
            {"best_eval", std::isfinite(st.best_eval) ? json(st.best_eval) : json(nullptr)},
            {"bad_evals", st.bad_evals},
            {"loss_curve", st.loss_curve},
            {"eval_curve", st.eval_curve}};
  {
    std::ofstream out(tmp / "state.json");
    out << j.dump(1) << "\n";
    if (!out) return Status::internal("cannot write " + (tmp / "state.json").string());
  }
  fs::remove_all(final_dir, ec);
  fs::rename(tmp, final_dir, ec);
  if (ec) return Status::internal("cannot move checkpoint into place: " + ec.message());
  auto all = list(dir);
  for (size_t i = 0; keep > 0 && i + static_cast<size_t>(keep) < all.size(); ++i)
    fs::remove_all(all[i].second, ec);
  return Status::ok();
}

std::optional<fs::path> latest_checkpoint(const fs::path& dir) {
  auto all = list(dir);
  if (all.empty()) return std::nullopt;
  return all.back().second;
}

std::string checkpoint_fingerprint(const fs::path& folder) {
  try {
    std::ifstream in(folder / "state.json");
    return json::parse(in).value("fingerprint", std::string());
  } catch (const std::exception&) {
    return "";
  }
}

Status load_checkpoint(const fs::path& folder, CheckpointState& st, const NamedTensors& params,
                       AdamW& opt) {
  const auto where = folder.string() + ": ";
  json j;
  try {
    std::ifstream in(folder / "state.json");
    j = json::parse(in);
  } catch (const std::exception& e) {
    return Status::invalid(where + "unreadable state.json: " + e.what());
  }
  if (j.value("format", std::string()) != kFormat)
    return Status::invalid(where + "not a torch-lm checkpoint");
  if (j.value("version", 0) != kCheckpointVersion)
    return Status::invalid(where + "checkpoint version " + std::to_string(j.value("version", 0)) +
                           " is not supported (this trainer reads version " +
                           std::to_string(kCheckpointVersion) + ")");
  auto file = lm::read_safetensors(folder / "tensors.safetensors");
  if (!file) return file.status();
  auto& t = file->tensors;
  at::NoGradGuard no_grad;
  auto fetch = [&](const std::string& name, const at::Tensor& like, at::Tensor& into) -> Status {
    auto it = t.find(name);
    if (it == t.end()) return Status::invalid(where + "missing tensor " + name);
    auto v = lm::to_aten(it->second);
    if (v.sizes() != like.sizes())
      return Status::invalid(where + "tensor " + name + " has another shape than the model's");
    into.copy_(v);
    return Status::ok();
  };
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& [name, p] = params[i];
    at::Tensor target = p;
    if (auto s = fetch("param/" + name, p, target); !s) return s;
    if (auto s = fetch("exp_avg/" + name, p, opt.exp_avg()[i]); !s) return s;
    if (auto s = fetch("exp_avg_sq/" + name, p, opt.exp_avg_sq()[i]); !s) return s;
  }
  if (auto it = t.find("rng/cpu"); it != t.end()) {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(lm::to_aten(it->second));
  }
  try {
    st.step = j.at("step").get<int64_t>();
    st.fingerprint = j.value("fingerprint", std::string());
    st.best_eval = j["best_eval"].is_number() ? j["best_eval"].get<double>() : INFINITY;
    st.bad_evals = j.value("bad_evals", int64_t{0});
    st.loss_curve = j.at("loss_curve").get<std::vector<std::pair<int64_t, double>>>();
    st.eval_curve = j.at("eval_curve").get<std::vector<std::pair<int64_t, double>>>();
    opt.set_steps(j.at("adam_steps").get<int64_t>());
  } catch (const std::exception& e) {
    return Status::invalid(where + "bad state.json: " + e.what());
  }
  return Status::ok();
}

}  // namespace llmops::trainers
