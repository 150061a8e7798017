// The engine's side of a Slurm submission: SlurmExecutor::submit() (request and job script
// written, `sbatch --parsable` called, the job handed to the poller) for N no-op steps, beside a
// bare `sbatch --wrap true` on the same cluster; then how long until every job's completion has
// reached the engine. Needs a cluster (SLURM_CONF; scripts/slurm-local.sh start) and the testing
// plugins. Prints figures; asserts nothing.
//   bench_slurm_submit [N=50]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <vector>

#include "base/command.hpp"
#include "engine/exec/slurm_executor.hpp"
#include "engine/plugins/plugin_host.hpp"

namespace fs = std::filesystem;
using namespace llmops;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Counter : engine::CompletionSink {
  std::mutex mu;
  std::condition_variable cv;
  int done = 0, failed = 0;
  void complete(engine::Completion c) override {
    std::lock_guard lock(mu);
    ++done;
    failed += !c.result.status.is_ok();
    cv.notify_all();
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 50;
  const auto host = engine::PluginHost::scan(engine::default_plugin_dirs());
  const auto* noop = host->find("testing/noop", "");
  if (!noop) {
    std::fprintf(stderr, "bench_slurm_submit: test plugins not found (build them first)\n");
    return 1;
  }
  std::error_code ec;
  engine::SlurmExecutor slurm(engine::SlurmOptions::from_env(
      fs::read_symlink("/proc/self/exe", ec).parent_path().parent_path() / "cli" / "llmops"));
  if (Status s = slurm.preflight(); !s.is_ok()) {
    std::fprintf(stderr, "bench_slurm_submit: %s\n", s.message().c_str());
    return 1;
  }
  const fs::path dir =
      fs::temp_directory_path() / ("llmops-bench-slurm-" + std::to_string(getpid()));
  std::vector<double> bare;
  for (int i = 0; i < std::min(n, 20); ++i) {
    const double t0 = now_s();
    auto out = base::run_command({"sbatch", "--parsable", "--output=/dev/null", "--wrap", "true"});
    bare.push_back(now_s() - t0);
    if (!out || out->exit_code != 0) return 1;
  }
  auto sink = std::make_shared<Counter>();
  std::vector<double> submit;
  const double start = now_s();
  for (int i = 0; i < n; ++i) {
    auto req = std::make_shared<engine::StepRequest>();
    req->run_id = 1;
    req->step = "s" + std::to_string(i);
    req->pipeline = "bench";
    req->plugin = *noop;
    req->work_dir = dir / "work" / req->step;
    req->log_path = dir / (req->step + ".log");
    const double t0 = now_s();
    auto id = slurm.submit(uint64_t(i + 1), req, sink);
    submit.push_back(now_s() - t0);
    if (!id) {
      std::fprintf(stderr, "submit: %s\n", id.status().message().c_str());
      return 1;
    }
  }
  const double submitted = now_s();
  {
    std::unique_lock lock(sink->mu);
    sink->cv.wait_for(lock, std::chrono::seconds(600), [&] { return sink->done == n; });
  }
  const double all_done = now_s();
  fs::remove_all(dir, ec);
  std::printf("bare sbatch --wrap true: median %.1f ms (%zu calls)\n", median(bare) * 1e3,
              bare.size());
  std::printf("SlurmExecutor::submit, %d no-op steps: median %.1f ms, max %.1f ms per step\n", n,
              median(submit) * 1e3, *std::max_element(submit.begin(), submit.end()) * 1e3);
  std::printf(
      "all %d submitted in %.2f s; all completions in the engine %.2f s after the first "
      "submit (%d done, %d failed)\n",
      n, submitted - start, all_done - start, sink->done, sink->failed);
  return 0;
}
