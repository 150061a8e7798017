// Curator throughput: generates a ~200 MB task-assistant JSONL file (with the generator's default
// dirt) and times curator/jsonl's engine on one core, first with exact dedup + PII + all filters,
// then with MinHash near-dedup on too. Each phase runs in a child process so that its peak RSS is
// its own. Prints figures, never asserts (docs/benchmarks.md keeps the latest table).
//   bench_curator [size_mb=200] [work_dir=/tmp]
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "curate.hpp"
#include "synth.hpp"

namespace fs = std::filesystem;
using namespace llmops::curators;

namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string l; std::getline(in, l);)
    if (l.rfind("model name", 0) == 0) return l.substr(l.find(':') + 2);
  return "unknown CPU";
}

// Runs one curation in a child; prints MB/s and the child's peak RSS.
void phase(const char* name, const fs::path& data, const fs::path& dir, bool near) {
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    CurateOptions o;
    o.near_dedup = near;
    Curator c(o);
    std::ofstream t(dir / "train.jsonl"), e(dir / "eval.jsonl"), r(dir / "rejected.jsonl");
    const auto t0 = std::chrono::steady_clock::now();
    auto s = c.run({Source{"bench", data, "", "", 1.0}}, t, e, r);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!s) {
      std::fprintf(stderr, "%s: %s\n", name, s.message().c_str());
      _exit(1);
    }
    const auto& st = c.stats();
    const double mb = static_cast<double>(st.bytes_in) / 1e6;
    std::printf(
        "%-34s %8.1f MB in %6.2f s = %6.1f MB/s  (kept %lld, rejected %lld, index %.0f MB)\n", name,
        mb, secs, mb / secs, static_cast<long long>(st.kept), static_cast<long long>(st.rejected),
        static_cast<double>(st.index_bytes) / 1e6);
    std::fflush(stdout);
    _exit(0);
  }
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  std::printf("%-34s peak RSS %.0f MB\n", "", static_cast<double>(ru.ru_maxrss) / 1024.0);
}

}  // namespace

int main(int argc, char** argv) {
  const double size_mb = argc > 1 ? std::atof(argv[1]) : 200;
  const fs::path dir =
      fs::path(argc > 2 ? argv[2] : "/tmp") / ("bench-curator-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const fs::path data = dir / "data.jsonl";
  std::printf("bench_curator on %s, %ld cores online (one used)\n", cpu_model().c_str(),
              sysconf(_SC_NPROCESSORS_ONLN));
  SynthOptions so;
  so.count = static_cast<int64_t>(size_mb * 1e6 / 1050);  // ~1.05 kB per line
  so.ensure_unique = false;  // the vocabulary cannot keep 200k conversations distinct
  // Generate in a child too, so that no phase inherits the generator's memory.
  std::fflush(stdout);
  if (fork() == 0) {
    const auto t0 = std::chrono::steady_clock::now();
    std::ofstream out(data, std::ios::binary);
    auto r = generate_synthetic(so, out);
    if (!r) {
      std::fprintf(stderr, "generate: %s\n", r.status().message().c_str());
      _exit(1);
    }
    out.close();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("generated %lld lines, %.1f MB in %.1f s\n", static_cast<long long>(so.count),
                static_cast<double>(fs::file_size(data)) / 1e6, s);
    std::fflush(stdout);
    _exit(0);
  }
  int status = 0;
  wait(&status);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
  phase("exact dedup + PII + filters", data, dir, false);
  phase("... + MinHash near-dedup (128/16)", data, dir, true);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
