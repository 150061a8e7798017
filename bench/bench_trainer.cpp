// bench_trainer: tokens/s of trainer/torch-lm's training step (forward, backward, clipping,
// AdamW) on a Llama configuration with random tokens, and, when python3 with torch is installed
// (Debian python3-torch), the same configuration and batch in PyTorch's Python API
// (bench_trainer.py), with the ratio. Prints figures; asserts nothing.
//   bench_trainer [--hidden 256] [--layers 4] [--heads 4] [--kv-heads 4] [--intermediate 688]
//                 [--vocab 2048] [--seq 256] [--batch 8] [--steps 10] [--warmup 2] [--threads 0]
//                 [--no-python] [--same-malloc]
// The C++ side keeps freed memory for reuse, as the trainer does (lm::retain_freed_memory);
// --same-malloc gives the Python side the same glibc malloc policy through the environment.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "lm/llama.hpp"
#include "trainers/torch_lm/optim.hpp"

extern char** environ;

namespace {

// Runs the Python half without a shell: Debian's interpreter (the one python3-torch installs
// into) unless LLMOPS_PYTHON names another. Returns its stdout and stderr and its exit status.
int run_python(const std::map<std::string, int64_t>& a, const std::string& script,
               std::string* out) {
  const char* env = std::getenv("LLMOPS_PYTHON");
  const std::string python = env && *env                                   ? env
                             : std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3"
                                                                           : "python3";
  std::vector<std::string> args = {python, script};
  for (const auto& [k, v] : a) {
    args.push_back("--" + k);
    args.push_back(std::to_string(v));
  }
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  int fd[2];
  if (pipe(fd) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fd[1], 2);
  posix_spawn_file_actions_addclose(&fa, fd[0]);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fd[1]);
  if (rc == 0) {
    char buf[512];
    for (ssize_t n; (n = read(fd[0], buf, sizeof buf)) > 0;) out->append(buf, size_t(n));
  }
  close(fd[0]);
  int status = 0;
  if (rc != 0 || waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

int main(int argc, char** argv) {
  // OpenMP reads OMP_WAIT_POLICY when it loads, before main: set it as the llmops CLI does (idle
  // threads sleep instead of spinning against the BLAS threads) and start again. The Python half
  // inherits it, so both sides run alike.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv);
  }
  std::map<std::string, int64_t> a = {{"hidden", 256}, {"layers", 4},         {"heads", 4},
                                      {"kv-heads", 4}, {"intermediate", 688}, {"vocab", 2048},
                                      {"seq", 256},    {"batch", 8},          {"steps", 10},
                                      {"warmup", 2},   {"threads", 0}};
  bool python = true, same_malloc = false;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--no-python") {
      python = false;
    } else if (k == "--same-malloc") {
      same_malloc = true;
    } else if (k.rfind("--", 0) == 0 && a.count(k.substr(2)) && i + 1 < argc) {
      a[k.substr(2)] = std::atoll(argv[++i]);
    } else {
      std::fprintf(stderr, "unknown argument %s\n", k.c_str());
      return 2;
    }
  }
  if (same_malloc) {
    // The Python side gets the same allocator policy through glibc's environment variables.
    setenv("MALLOC_MMAP_THRESHOLD_", "1073741824", 1);
    setenv("MALLOC_TRIM_THRESHOLD_", "2147483647", 1);
  }
  llmops::lm::retain_freed_memory();  // as trainer/torch-lm does
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
  std::string out;
  const int rc = run_python(a, script, &out);
  const auto pos = out.find("tokens_per_s=");
  if (rc != 0 || pos == std::string::npos) {
    std::printf(
        "Python (PyTorch): not run (needs Debian python3-torch: scripts/setup.sh --bench)\n");
    if (!out.empty()) std::printf("  python said: %s", out.substr(0, 300).c_str());
    return 0;
  }
  const double py_tps = std::atof(out.c_str() + pos + 13);
  std::printf("Python (PyTorch): %10.0f tokens/s\n", py_tps);
  std::printf("ratio C++/Python: %.2fx\n", cpp_tps / py_tps);
  return 0;
}
