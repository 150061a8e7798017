// `llmops scheduler`: the scheduling daemon. Loads the pipelines of a folder (reloading changed
// files, keeping the last valid definition of a file that became invalid), and hands their
// schedules to the ScheduleDaemon (engine/triggers/schedule_daemon.hpp), which decides what to
// start, cancel or skip and keeps its state in the store; runs are child `llmops run FILE -p ...`
// processes (cli/scheduler_launcher.hpp), one log file per run under LLMOPS_HOME/scheduler/.
//
// At most once: the new state of a schedule (last nominal fire time, or the digest of the files a
// watch saw) is written to the store before its run is spawned, so a scheduler killed at any point
// never starts a fire twice (a kill between the write and the spawn loses that one fire, and the
// next scheduler says so). What is in flight is in the store too (schedule_fires), so concurrency
// policies hold across restarts.
// One scheduler per store: an flock on LLMOPS_HOME/scheduler.lock, held for the process's life.
// Test-only: LLMOPS_SCHEDULER_TEST_CLOCK="ANCHOR:SCALE" runs the scheduler's clock SCALE times
// faster than real time from the unix second ANCHOR, so "* * * * *" fires every 60/SCALE seconds.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "cli/commands.hpp"
#include "cli/schedule_files.hpp"
#include "cli/scheduler_launcher.hpp"
#include "engine/triggers/schedule_daemon.hpp"

namespace fs = std::filesystem;

namespace llmops::cli {

namespace {

using engine::SysSeconds;
using std::chrono::seconds;

std::atomic<int> g_stop{0};
void on_stop(int) {
  g_stop.fetch_add(1);
}

double real_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Real time, or the test-only accelerated clock.
class DaemonClock : public engine::Clock {
 public:
  DaemonClock() {
    if (const char* v = std::getenv("LLMOPS_SCHEDULER_TEST_CLOCK"); v && *v) {
      std::string s = v;
      auto colon = s.find(':');
      try {
        anchor_ = std::stod(s.substr(0, colon));
        scale_ = colon == std::string::npos ? 1.0 : std::stod(s.substr(colon + 1));
      } catch (const std::exception&) {
        anchor_ = 0;
        scale_ = 1.0;  // malformed: real time
      }
      if (!(scale_ > 0)) scale_ = 1.0;
    }
  }
  SysSeconds now() const override {
    return SysSeconds(seconds(static_cast<long long>(std::floor(to_clock(real_now())))));
  }
  double to_clock(double real) const { return anchor_ + (real - anchor_) * scale_; }
  double to_real(double clock) const { return anchor_ + (clock - anchor_) / scale_; }
  bool accelerated() const { return scale_ != 1.0; }

 private:
  double anchor_ = 0;
  double scale_ = 1.0;
};

void log_line(const std::string& text) {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", std::localtime(&t));
  std::cout << buf << " " << text << std::endl;
}

struct Loaded {
  fs::path file;
  std::string digest;         // of the text on disk; "invalid:..." when that text has errors
  engine::PipelineSpec spec;  // the last valid definition
  std::string text;           // its text
  std::string text_digest;
};

// The file to hand to `llmops run`: the pipeline file itself, or, while it holds an invalid edit,
// a snapshot of its last valid text (so the runs keep the definition the scheduler keeps).
fs::path run_file(const fs::path& home, const Loaded& l) {
  if (l.digest == l.text_digest) return l.file;
  fs::path snap = home / "scheduler" / "snapshots" /
                  (l.file.stem().string() + "-" + l.text_digest.substr(0, 12) + ".yaml");
  std::error_code ec;
  if (!fs::exists(snap, ec)) {
    fs::create_directories(snap.parent_path(), ec);
    std::ofstream(snap, std::ios::binary) << l.text;
  }
  return snap;
}

}  // namespace

int cmd_scheduler(const SchedulerArgs& a) {
  const fs::path home = home_dir();
  std::error_code ec;
  fs::create_directories(home / "scheduler", ec);
  const fs::path lock_path = home / "scheduler.lock";
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    return fail("another scheduler is already running on the store " + home.string() + " (" +
                    lock_path.string() + " is locked)",
                kExitFailed);
  }
  if (ftruncate(lock_fd, 0) == 0) {
    std::string pid = std::to_string(getpid()) + "\n";
    if (write(lock_fd, pid.data(), pid.size()) < 0) { /* the pid is informative only */
    }
  }
  auto store = open_store();
  if (!store) return kExitFailed;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);

  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  DaemonClock clock;
  ProcessLauncher launcher(exe, home / "scheduler");
  engine::ScheduleDaemon::Options options;
  options.log = log_line;
  engine::ScheduleDaemon daemon(*store, clock, launcher, options);
  std::map<fs::path, Loaded> loaded;
  double next_scan = 0;
  log_line("scheduler: watching " + a.dir + " (store " + home.string() + ")" +
           (clock.accelerated() ? " [test clock]" : ""));
  auto report_finished = [&] {
    for (const auto& line : launcher.reap()) log_line("finished " + line);
  };

  while (g_stop.load() == 0) {
    report_finished();
    // Reload changed files; keep the old definition of a file that became invalid.
    if (real_now() >= next_scan) {
      next_scan = real_now() + a.poll_s;
      auto files = load_schedule_files(a.dir);
      if (!files) {
        log_line("warning: " + files.status().message());
      } else {
        std::map<fs::path, bool> present;
        for (auto& f : *files) {
          present[f.path] = true;
          auto it = loaded.find(f.path);
          if (it != loaded.end() && (it->second.digest == f.text_digest ||
                                     it->second.digest == "invalid:" + f.text_digest))
            continue;
          if (!f.ok) {
            if (it != loaded.end()) {
              log_line("error: " + f.path.string() +
                       " is now invalid; keeping its previous definition:");
            } else if (it == loaded.end()) {
              log_line("error: " + f.path.string() + " is invalid; it is not scheduled:");
            }
            for (const auto& d : f.diagnostics) log_line("  " + d.str());
            if (it != loaded.end()) it->second.digest = "invalid:" + f.text_digest;
            if (it == loaded.end())
              loaded[f.path] = {f.path, "invalid:" + f.text_digest, {}, {}, {}};
            continue;
          }
          log_line(std::string(it == loaded.end() ? "loaded " : "reloaded ") + f.path.string() +
                   ": " + std::to_string(f.spec->schedules.size()) + " schedule(s)");
          loaded[f.path] = {f.path, f.text_digest, std::move(*f.spec), f.text, f.text_digest};
        }
        for (auto it = loaded.begin(); it != loaded.end();) {
          if (present.count(it->first)) {
            ++it;
          } else {
            log_line("removed " + it->first.string());
            it = loaded.erase(it);
          }
        }
      }
    }
    // Decide and act.
    std::vector<engine::ScheduleTarget> targets;
    for (const auto& [path, l] : loaded) {
      if (l.text_digest.empty()) continue;  // invalid from the start: nothing scheduled
      const fs::path file = run_file(home, l);
      for (const auto& s : l.spec.schedules) targets.push_back({&s, l.file, file});
    }
    const auto wake_at = daemon.tick(targets);
    report_finished();
    // Sleep until the next due time, the next file scan, or a stop (in short steps: a run that
    // ends or a signal is noticed within a fraction of a second).
    double wake = next_scan;
    if (wake_at) {
      wake =
          std::min(wake, clock.to_real(static_cast<double>(wake_at->time_since_epoch().count())));
    }
    // A run just started records itself within moments: look again soon, for its run id.
    if (daemon.awaiting_runs()) wake = std::min(wake, real_now() + 0.25);
    while (g_stop.load() == 0 && real_now() < wake) {
      std::this_thread::sleep_for(std::chrono::milliseconds(
          static_cast<int>(std::clamp((wake - real_now()) * 1000.0, 1.0, 100.0))));
      siginfo_t info{};
      if (launcher.children() > 0 && waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
          info.si_pid != 0)
        break;
    }
  }

  log_line("scheduler: stopping; waiting for " + std::to_string(launcher.children()) +
           " run(s) (signal again to cancel them; `llmops resume` continues a cancelled run)");
  bool forwarded = false;
  while (launcher.children() > 0) {
    if (g_stop.load() > 1 && !forwarded) {
      launcher.interrupt_all();
      forwarded = true;
    }
    report_finished();
    if (launcher.children() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  daemon.reconcile();  // the fires of the runs that ended, and their run ids, into the store
  log_line("scheduler: stopped");
  return kExitOk;
}

}  // namespace llmops::cli
