// Test fixture for the ScheduleDaemon: a real store in a temporary folder, a FakeClock, and a
// FakeLauncher whose "processes" outlive any one daemon (as real runs outlive a killed
// scheduler), so a test can stop a daemon, start another on the same store, and see what it does.
// Nothing sleeps: time moves only when the test moves the clock.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/spec/loader.hpp"
#include "engine/triggers/schedule_daemon.hpp"

namespace llmops::testing {

namespace fs = std::filesystem;

class TempFolder {
 public:
  TempFolder() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("llmops-cron-" + std::to_string(::getpid()) + "-" +
             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + "-" +
             std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempFolder() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  const fs::path& path() const { return path_; }
  void write(const std::string& rel, const std::string& text) const {
    fs::create_directories((path_ / rel).parent_path());
    std::ofstream(path_ / rel, std::ios::binary | std::ios::trunc) << text;
  }

 private:
  fs::path path_;
};

// The "processes" the daemons started; each may record a run in the store the way `llmops run`
// does (trigger and trigger info from the request), run on, end, or die.
class FakeLauncher : public engine::Launcher {
 public:
  struct Proc {
    engine::LaunchRequest request;
    bool alive = true;
    bool interrupted = false;
    std::optional<int64_t> run;
  };

  Result<engine::Launched> start(const engine::LaunchRequest& r) override {
    if (fail_next) {
      fail_next = false;
      return Status::internal("no such file");
    }
    const int64_t pid = next_pid++;
    procs[pid] = Proc{r, true, false, std::nullopt};
    return engine::Launched{pid, "fake.log"};
  }
  bool alive(int64_t pid, const std::string& token) override {
    auto it = procs.find(pid);
    return it != procs.end() && it->second.alive && it->second.request.token == token;
  }
  bool interrupt(int64_t pid, const std::string& token) override {
    if (!alive(pid, token)) return false;
    procs[pid].interrupted = true;
    return true;
  }

  // The newest process started, or the one with `pid`.
  Proc& last() { return procs.rbegin()->second; }
  int64_t last_pid() const { return procs.rbegin()->first; }
  size_t started() const { return procs.size(); }

  // What `llmops run` does first: records the run (state running).
  int64_t record_run(store::Store& store, int64_t pid) {
    Proc& p = procs.at(pid);
    store::NewRun nr;
    nr.pipeline = "p";
    nr.trigger = p.request.trigger;
    nr.trigger_info_json = p.request.trigger_info_json;
    auto id = store.create_run(nr, {"a"});
    REQUIRE(id);
    REQUIRE(store.set_run_state(*id, store::State::kRunning));
    p.run = *id;
    return *id;
  }
  // The run ends and its process exits.
  void finish(store::Store& store, int64_t pid, store::State state = store::State::kSucceeded) {
    Proc& p = procs.at(pid);
    if (p.run) REQUIRE(store.set_run_state(*p.run, state));
    p.alive = false;
  }
  // The process dies (SIGKILL) with its run still running.
  void kill(int64_t pid) { procs.at(pid).alive = false; }

  std::map<int64_t, Proc> procs;
  int64_t next_pid = 1000;
  bool fail_next = false;
};

// A pipeline's schedules loaded from YAML (so the tests use what the loader makes of them).
inline engine::PipelineSpec load_schedules(const std::string& schedule_yaml) {
  const std::string text =
      "apiVersion: llmops/v1\nkind: Pipeline\nname: p\nsteps:\n  a:\n"
      "    uses: testing/noop\nschedule:\n" +
      schedule_yaml;
  auto r = engine::load_pipeline_text(text, "p.yaml", {}, false);
  std::string diags;
  for (const auto& d : r.diagnostics) diags += d.str() + "\n";
  INFO(diags);
  REQUIRE(r.ok());
  return *r.spec;
}

inline engine::SysSeconds utc(const std::string& iso) {
  auto t = engine::parse_iso8601(iso, "UTC");
  REQUIRE(t.is_ok());
  return *t;
}

// One daemon "process" over a store, a clock and the shared processes.
struct Daemon {
  std::vector<std::string> lines;
  engine::ScheduleDaemon daemon;
  Daemon(store::Store& store, const engine::Clock& clock, FakeLauncher& launcher,
         const fs::path& base)
      : daemon(store, clock, launcher, options(base)) {}
  engine::ScheduleDaemon::Options options(const fs::path& base) {
    engine::ScheduleDaemon::Options o;
    o.watch_base = base;
    o.log = [this](const std::string& l) { lines.push_back(l); };
    return o;
  }
  std::optional<engine::SysSeconds> tick(const engine::PipelineSpec& spec) {
    std::vector<engine::ScheduleTarget> targets;
    for (const auto& s : spec.schedules) targets.push_back({&s, "p.yaml", "p.yaml"});
    return daemon.tick(targets);
  }
  bool logged(const std::string& part) const {
    for (const auto& l : lines)
      if (l.find(part) != std::string::npos) return true;
    return false;
  }
  std::string log() const {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
  }
};

// A store in a temporary folder, a fake clock starting at `start` and a fake launcher.
struct World {
  TempFolder dir;
  std::unique_ptr<store::Store> store;
  engine::FakeClock clock;
  FakeLauncher procs;
  explicit World(const std::string& start) : clock(utc(start)) {
    auto s = store::Store::open(dir.path() / "home");
    REQUIRE(s);
    store = std::move(s.value());
  }
  store::ScheduleState state(const std::string& id = "p") {
    auto st = store->get_schedule(id);
    REQUIRE(st);
    REQUIRE(st.value());
    return *st.value();
  }
};

}  // namespace llmops::testing
