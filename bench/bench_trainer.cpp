// bench_trainer: tokens/s of trainer/torch-lm's training step (forward, backward, clipping,
// AdamW) on a Llama configuration with random tokens, and, when python3 with torch is installed
// (Debian python3-torch), the same configuration and batch in PyTorch's Python API
// (bench_trainer.py), with the ratio. Prints figures; asserts nothing.
//   bench_trainer [--hidden 256] [--layers 4] [--heads 4] [--kv-heads 4] [--intermediate 688]
//                 [--vocab 2048] [--seq 256] [--batch 8] [--steps 10] [--warmup 2] [--threads 0]
//                 [--no-python]
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

#include "lm/llama.hpp"
#include "trainers/torch_lm/optim.hpp"

namespace {

std::string python_cmd(const std::map<std::string, int64_t>& a, const std::string& script) {
  std::string cmd = "python3 " + script;
  for (const auto& [k, v] : a) cmd += " --" + k + " " + std::to_string(v);
  return cmd + " 2>&1";
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, int64_t> a = {{"hidden", 256}, {"layers", 4},         {"heads", 4},
                                      {"kv-heads", 4}, {"intermediate", 688}, {"vocab", 2048},
                                      {"seq", 256},    {"batch", 8},          {"steps", 10},
                                      {"warmup", 2},   {"threads", 0}};
  bool python = true;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--no-python") {
      python = false;
    } else if (k.rfind("--", 0) == 0 && a.count(k.substr(2)) && i + 1 < argc) {
      a[k.substr(2)] = std::atoll(argv[++i]);
    } else {
      std::fprintf(stderr, "unknown argument %s\n", k.c_str());
      return 2;
    }
  }
  const unsigned hw = std::thread::hardware_concurrency();
  if (a["threads"] <= 0) a["threads"] = hw ? hw : 1;
  at::set_num_threads(static_cast<int>(a["threads"]));

  llmops::lm::LlamaConfig c;
  c.hidden_size = a["hidden"];
  c.num_hidden_layers = a["layers"];
  c.num_attention_heads = a["heads"];
  c.num_key_value_heads = a["kv-heads"];
  c.head_dim = c.hidden_size / c.num_attention_heads;
  c.intermediate_size = a["intermediate"];
  c.vocab_size = a["vocab"];
  c.max_position_embeddings = std::max<int64_t>(a["seq"], 2048);
  c.tie_word_embeddings = false;
  auto m = llmops::lm::LlamaModel::init(c, 0);
  if (!m) {
    std::fprintf(stderr, "%s\n", m.status().message().c_str());
    return 1;
  }
  auto params = m->parameters();
  for (auto& p : params) p.requires_grad_(true);
  llmops::trainers::AdamW opt(params, {0.9, 0.95, 1e-8, 0.01});
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  auto ids = at::randint(c.vocab_size, {a["batch"], a["seq"]}, gen, at::kLong);

  double secs = 0, loss = 0;
  for (int64_t s = 0; s < a["warmup"] + a["steps"]; ++s) {
    const auto t0 = std::chrono::steady_clock::now();
    auto l = llmops::lm::causal_lm_loss(m->forward(ids, nullptr, true), ids);
    l.backward();
    llmops::trainers::clip_grad_norm(params, 1.0);
    opt.step(1e-3);
    opt.zero_grad();
    loss = l.item<double>();
    if (s >= a["warmup"])
      secs += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const double tokens = static_cast<double>(a["steps"] * a["batch"] * a["seq"]);
  const double cpp_tps = tokens / secs;
  char host[256] = "?";
  gethostname(host, sizeof host);
  std::printf("machine: %s, %u cores, %lld torch threads\n", host, hw,
              static_cast<long long>(a["threads"]));
  std::printf(
      "config: hidden %lld layers %lld heads %lld/%lld intermediate %lld vocab %lld, "
      "batch %lld x %lld tokens, %lld steps (+%lld warmup)\n",
      (long long)a["hidden"], (long long)a["layers"], (long long)a["heads"],
      (long long)a["kv-heads"], (long long)a["intermediate"], (long long)a["vocab"],
      (long long)a["batch"], (long long)a["seq"], (long long)a["steps"], (long long)a["warmup"]);
  std::printf("C++ (torch-lm):  %10.0f tokens/s  (%.1f ms/step, final loss %.4f)\n", cpp_tps,
              1000 * secs / a["steps"], loss);
  if (!python) return 0;
  const std::string script = std::string(LLMOPS_BENCH_DIR) + "/bench_trainer.py";
  FILE* p = popen(python_cmd(a, script).c_str(), "r");
  std::string out;
  char buf[512];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  const int rc = p ? pclose(p) : -1;
  const auto pos = out.find("tokens_per_s=");
  if (rc != 0 || pos == std::string::npos) {
    std::printf(
        "Python (PyTorch): not run (needs python3 with torch: apt install python3-torch)\n");
    if (!out.empty()) std::printf("  python said: %s", out.substr(0, 300).c_str());
    return 0;
  }
  const double py_tps = std::atof(out.c_str() + pos + 13);
  std::printf("Python (PyTorch): %10.0f tokens/s\n", py_tps);
  std::printf("ratio C++/Python: %.2fx\n", cpp_tps / py_tps);
  return 0;
}
