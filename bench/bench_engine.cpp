// Engine overhead: per-step cost of 10,000 in-process steps with everything recorded in the
// store, and the time to load and validate a 10,000-step pipeline. Prints figures; asserts none.
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "engine/loader.hpp"
#include "engine/plugin_host.hpp"
#include "engine/runner.hpp"
#include "engine/validator.hpp"

namespace fs = std::filesystem;
using namespace llmops;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// shape: "chain" (each step needs the previous), "wide" (all independent).
std::string make_pipeline(int n, const std::string& uses, const std::string& shape) {
  std::ostringstream y;
  y << "apiVersion: llmops/v1\nkind: Pipeline\nname: bench\nsteps:\n";
  for (int i = 0; i < n; ++i) {
    y << "  s" << i << ":\n    uses: " << uses << "\n";
    if (uses == "testing/write") y << "    with: {text: \"step " << i << "\"}\n";
    if (shape == "chain" && i > 0) y << "    needs: [s" << i - 1 << "]\n";
  }
  return y.str();
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 10000;
  const auto host = engine::PluginHost::scan(engine::default_plugin_dirs());
  if (!host->find("testing/noop", "")) {
    std::fprintf(stderr, "bench_engine: test plugins not found (build them first)\n");
    return 1;
  }
  std::printf("machine: %s, %u cores\n", cpu_model().c_str(), std::thread::hardware_concurrency());

  {
    const std::string text = make_pipeline(n, "testing/noop", "chain");
    const double t0 = now_s();
    auto r = engine::load_pipeline_text(text, "bench.yaml");
    const double t1 = now_s();
    auto diags = engine::validate_pipeline(*r.spec, *host);
    const double t2 = now_s();
    std::printf("load %d-step pipeline: %.1f ms; validate (plugins, templates, DAG): %.1f ms; "
                "total %.1f ms%s\n",
                n, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t2 - t0) * 1e3,
                diags.empty() && r.ok() ? "" : " (with diagnostics!)");
  }

  for (const auto& [uses, shape] : {std::pair{"testing/noop", "chain"},
                                    std::pair{"testing/noop", "wide"},
                                    std::pair{"testing/write", "wide"}}) {
    const auto home = fs::temp_directory_path() / ("llmops-bench-" + std::to_string(getpid()));
    fs::remove_all(home);
    auto st = store::Store::open(home);
    if (!st) {
      std::fprintf(stderr, "%s\n", st.status().message().c_str());
      return 1;
    }
    const std::string text = make_pipeline(n, uses, shape);
    auto r = engine::load_pipeline_text(text, "bench.yaml");
    engine::Runner runner(*st.value(), host);
    engine::RunOptions opts;
    opts.no_cache = true;  // measure execution, not cache hits
    const double t0 = now_s();
    auto s = runner.run(*r.spec, text, opts);
    const double t1 = now_s();
    if (!s || s->state != "succeeded") {
      std::fprintf(stderr, "run failed\n");
      return 1;
    }
    std::printf("%-14s %-6s %d steps in %.2f s: %.1f us/step (executions, events, metrics and "
                "artifacts recorded)\n",
                uses, shape, n, t1 - t0, (t1 - t0) / n * 1e6);
    st.value().reset();
    fs::remove_all(home);
  }
  return 0;
}
