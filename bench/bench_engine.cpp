// Engine overhead: per-step cost of 10,000 in-process steps with everything recorded in the
// store, and the time to load and validate a 10,000-step pipeline. Prints figures; asserts none.
#include <sqlite3.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "engine/exec/subprocess_executor.hpp"
#include "engine/plugins/plugin_host.hpp"
#include "engine/run/runner.hpp"
#include "engine/spec/loaded_pipeline.hpp"
#include "engine/spec/loader.hpp"
#include "engine/spec/validator.hpp"

namespace fs = std::filesystem;
using namespace llmops;

namespace {

// The floor under a recorded step: one bare SQLite write transaction in WAL mode with the store's
// settings (synchronous=NORMAL), one small row each. Returns seconds per commit.
double bare_wal_commit_s(const fs::path& dir, int n) {
  sqlite3* db = nullptr;
  if (sqlite3_open((dir / "bare.db").c_str(), &db) != SQLITE_OK) return -1;
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", nullptr, nullptr,
               nullptr);
  sqlite3_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, step TEXT, state TEXT)", nullptr,
               nullptr, nullptr);
  sqlite3_stmt* ins = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO t(step, state) VALUES (?, 'succeeded')", -1, &ins, nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    const std::string step = "s" + std::to_string(i);
    sqlite3_bind_text(ins, 1, step.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_step(ins);
    sqlite3_reset(ins);
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  sqlite3_finalize(ins);
  sqlite3_close(db);
  return secs / n;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// shape: "chain" (each step needs the previous), "wide" (all independent).
std::string make_pipeline(int n, const std::string& uses, const std::string& shape,
                          const std::string& executor = "") {
  std::ostringstream y;
  y << "apiVersion: llmops/v1\nkind: Pipeline\nname: bench\n";
  if (!executor.empty()) y << "defaults: {executor: " << executor << "}\n";
  y << "steps:\n";
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
  // Optional second argument: run only the cases whose "plugin shape executor" contains it.
  const std::string only = argc > 2 ? argv[2] : "";
  const auto host = engine::PluginHost::scan(engine::default_plugin_dirs());
  if (!host->find("testing/noop", "")) {
    std::fprintf(stderr, "bench_engine: test plugins not found (build them first)\n");
    return 1;
  }
  std::printf("machine: %s, %u cores\n", cpu_model().c_str(), std::thread::hardware_concurrency());
  if (std::string("sqlite").find(only) != std::string::npos || only.empty()) {
    const auto dir =
        fs::temp_directory_path() / ("llmops-bench-sqlite-" + std::to_string(getpid()));
    fs::create_directories(dir);
    const double s = bare_wal_commit_s(dir, n);
    fs::remove_all(dir);
    std::printf("bare SQLite WAL commit (synchronous=NORMAL), %d commits: %8.1f us/commit\n", n,
                s * 1e6);
  }

  {
    const std::string text = make_pipeline(n, "testing/noop", "chain");
    const double t0 = now_s();
    auto r = engine::load_pipeline_text(text, "bench.yaml");
    const double t1 = now_s();
    auto diags = engine::validate_pipeline(*r.spec, *host);
    const double t2 = now_s();
    std::printf(
        "load %d-step pipeline: %.1f ms; validate (plugins, templates, DAG): %.1f ms; "
        "total %.1f ms%s\n",
        n, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t2 - t0) * 1e3,
        diags.empty() && r.ok() ? "" : " (with diagnostics!)");
  }

  std::error_code ec;
  const auto worker =
      fs::read_symlink("/proc/self/exe", ec).parent_path() / ".." / "cli" / "llmops";
  struct Case {
    const char* uses;
    const char* shape;
    const char* executor;
    int n;
  };
  const int nsub = std::max(1, n / 10);
  for (const auto& c :
       {Case{"testing/noop", "chain", "inprocess", n}, Case{"testing/noop", "wide", "inprocess", n},
        Case{"testing/write", "wide", "inprocess", n},
        Case{"testing/noop", "chain", "subprocess", nsub},
        Case{"testing/write", "wide", "subprocess", nsub}}) {
    const std::string uses = c.uses, shape = c.shape, executor = c.executor;
    if ((uses + " " + shape + " " + executor).find(only) == std::string::npos) continue;
    const int steps = c.n;
    const auto home = fs::temp_directory_path() / ("llmops-bench-" + std::to_string(getpid()));
    fs::remove_all(home);
    auto st = store::Store::open(home);
    if (!st) {
      std::fprintf(stderr, "%s\n", st.status().message().c_str());
      return 1;
    }
    const std::string text = make_pipeline(steps, uses, shape, executor);
    auto pipeline = std::make_shared<const engine::LoadedPipeline>(
        engine::LoadedPipeline::from_text(text, "bench.yaml", {}));
    engine::Runner runner(*st.value(), host);
    runner.add_executor("subprocess", std::make_shared<engine::SubprocessExecutor>(worker));
    engine::RunOptions opts;
    opts.no_cache = true;  // measure execution, not cache hits
    const double t0 = now_s();
    auto s = runner.run(pipeline, {}, opts);
    const double t1 = now_s();
    if (!s || s->state != store::State::kSucceeded) {
      std::fprintf(stderr, "run failed\n");
      return 1;
    }
    std::printf("%-14s %-6s %-10s %6d steps in %6.2f s: %8.1f us/step\n", uses.c_str(),
                shape.c_str(), executor.c_str(), steps, t1 - t0, (t1 - t0) / steps * 1e6);
    st.value().reset();
    fs::remove_all(home);
  }
  return 0;
}
