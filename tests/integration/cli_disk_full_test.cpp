// Integration: a full disk. The engine records the failure with its cause (the store keeps a
// reserve it gives up to write it), the run ends failed rather than left running, and resume
// finishes it once space is freed. Also: failed attempts leave no work folder behind.
#include <sys/mount.h>
#include <catch2/catch.hpp>

#include "cli_harness.hpp"

using namespace llmops::testing;

namespace {

// A small tmpfs mounted over the store home for the test's life (needs CAP_SYS_ADMIN: root).
class SmallDisk {
 public:
  SmallDisk(const fs::path& at, const std::string& size) : at_(at) {
    fs::create_directories(at);
    mounted_ = ::mount("tmpfs", at.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(at_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }

 private:
  fs::path at_;
  bool mounted_ = false;
};

// Writes zeros to `path` until the disk refuses more.
void fill(const fs::path& path) {
  std::ofstream out(path, std::ios::binary);
  const std::string chunk(64 * 1024, '\0');
  while (out.write(chunk.data(), chunk.size()) && out.flush()) {
  }
}

}  // namespace

TEST_CASE("a full disk fails the run with its cause, and resume finishes it once space is freed",
          "[integration][disk]") {
  TempHome t;
  SmallDisk disk(t.home(), "8m");
  if (!disk.mounted()) {
    WARN("cannot mount a tmpfs here (not root?): the full-disk case is not exercised");
    return;
  }
  const auto go = t.path() / "go";
  const auto file = t.write("fill.yaml", R"(apiVersion: llmops/v1
kind: Pipeline
name: fill
steps:
  a:
    uses: testing/write
    with: {text: alpha}
  b:
    uses: builtin/shell
    needs: [a]
    with:
      command: [sh, -c, "while [ ! -e )" + go.string() +
                                             R"( ]; do sleep 0.02; done"]
  c:
    uses: testing/concat
    needs: [b]
    inputs: {x: "${{ steps.a.outputs.out }}"}
)");
  const auto pid = spawn_cli(t, {"run", file.string()}, "full", {"LLMOPS_DISK_RESERVE=1048576"});
  REQUIRE(pid > 0);
  REQUIRE(wait_until([&] { return step_state(t, "b") == "running"; }, 30));
  fill(t.home() / "filler");
  std::ofstream(go) << "go";
  bool timed_out = false;
  auto r = wait_cli_for(t, pid, "full", 60, &timed_out);
  INFO(r.out << r.err);
  REQUIRE_FALSE(timed_out);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("disk full at") != std::string::npos);
  // Nothing left running; the cause is on the run and on the step it interrupted.
  CHECK(sql_one(t, "SELECT state FROM runs WHERE id = 1") == "failed");
  CHECK(sql_one(t, "SELECT error FROM runs WHERE id = 1").rfind("disk full at", 0) == 0);
  CHECK(sql_one(t, "SELECT COUNT(*) FROM run_steps WHERE state = 'running'") == "0");
  CHECK(sql_one(t, "SELECT COUNT(*) FROM executions WHERE state = 'running'") == "0");

  fs::remove(t.home() / "filler");
  auto resumed = run_cli(t, {"resume", "1", "--json"});
  INFO(resumed.out << resumed.err);
  REQUIRE(resumed.exit_code == 0);
  CHECK(resumed.json()["state"] == "succeeded");
  CHECK(fs::file_size(t.home() / "reserve") == 4u << 20);  // made again once there was room
}

TEST_CASE("a failed attempt leaves no work folder behind", "[integration][disk]") {
  TempHome t;
  const auto file = t.write("partial.yaml", R"(apiVersion: llmops/v1
kind: Pipeline
name: partial
steps:
  half:
    uses: builtin/shell
    with:
      outputs: {out: dataset}
      command: [sh, -c, "mkdir -p $LLMOPS_OUTPUT_OUT && head -c 100000 /dev/zero > $LLMOPS_OUTPUT_OUT/part && exit 3"]
)");
  auto r = run_cli(t, {"run", file.string()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(sql_one(t, "SELECT state FROM run_steps WHERE step = 'half'") == "failed");
  const auto work = t.home() / "runs" / "1" / "work";
  std::vector<std::string> left;
  if (fs::exists(work))
    for (const auto& e : fs::recursive_directory_iterator(work))
      if (e.is_regular_file()) left.push_back(e.path().string());
  CHECK(left.empty());
  CHECK(fs::exists(t.home() / "runs" / "1" / "half.log"));  // the log stays
}

TEST_CASE("an engine exits cleanly while an abandoned in-process attempt still runs",
          "[integration][abandoned]") {
  // The plugin ignores cancellation and reports progress every 10 ms: after the timeout and the
  // grace period the run ends without it, and the process exits while it still sleeps.
  TempHome t;
  const auto file = t.write("stuck.yaml", R"(apiVersion: llmops/v1
kind: Pipeline
name: stuck
steps:
  s:
    uses: testing/sleep
    timeout: 0.2s
    with: {seconds: 30, ignore_cancel: true}
)");
  std::vector<pid_t> pids;
  for (int i = 0; i < 3; ++i)  // three engines on one store, for more chances to catch a crash
    pids.push_back(spawn_cli(t, {"run", file.string()}, "stuck" + std::to_string(i)));
  for (int i = 0; i < 3; ++i) {
    bool timed_out = false;
    auto r = wait_cli_for(t, pids[i], "stuck" + std::to_string(i), 25, &timed_out);
    INFO("engine " << i << ": " << r.out << r.err);
    CHECK_FALSE(timed_out);
    CHECK(r.exit_code == 1);  // the run failed (timed out); not a crash signal
    CHECK((r.out + r.err).find("timed out") != std::string::npos);
  }
}
