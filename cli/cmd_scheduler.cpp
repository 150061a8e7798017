// `llmops scheduler`: the cron daemon. Loads the pipelines of a folder, asks the CronScheduler
// (engine/cron_scheduler.hpp) what to do, and starts each run as a child `llmops run FILE -p ...`
// (the same engine as by hand), one log file per run under LLMOPS_HOME/scheduler/.
//
// At most once: the new last nominal fire time of a schedule is written to the store before its
// run is spawned, so a scheduler killed at any point never starts a fire twice (a kill between
// the write and the spawn loses that one fire, and the log says where it stopped).
// One scheduler per store: an flock on LLMOPS_HOME/scheduler.lock, held for the process's life.
// Test-only: LLMOPS_SCHEDULER_TEST_CLOCK="ANCHOR:SCALE" runs the scheduler's clock SCALE times
// faster than real time from the unix second ANCHOR, so "* * * * *" fires every 60/SCALE seconds.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
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
#include "engine/cron_scheduler.hpp"

extern char** environ;

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

std::string param_text(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
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

struct Child {
  std::string schedule;
  SysSeconds nominal;
};

pid_t spawn_run(const fs::path& exe, const fs::path& file, const nlohmann::json& params,
                const fs::path& log_file, const std::string& schedule, SysSeconds nominal) {
  std::vector<std::string> args = {exe.string(), "run", file.string()};
  for (auto it = params.begin(); it != params.end(); ++it) {
    args.push_back("-p");
    args.push_back(it.key() + "=" + param_text(it.value()));
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The trigger for the run's record, for `llmops run` to pick up.
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) env_store.emplace_back(*e);
  env_store.push_back("LLMOPS_TRIGGER=cron");
  env_store.push_back("LLMOPS_TRIGGER_INFO=" +
                      nlohmann::json{{"schedule", schedule},
                                     {"nominal", engine::format_local_iso(nominal, "UTC")},
                                     {"nominal_unix", nominal.time_since_epoch().count()}}
                          .dump());
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Own process group: a Ctrl-C at the terminal stops the scheduler, not the runs it started.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, exe.c_str(), &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return rc == 0 ? pid : -1;
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
  engine::CronScheduler scheduler(clock);
  std::map<fs::path, Loaded> loaded;
  std::map<pid_t, Child> children;
  double next_scan = 0;
  log_line("scheduler: watching " + a.dir + " (store " + home.string() + ")" +
           (clock.accelerated() ? " [test clock]" : ""));

  while (g_stop.load() == 0) {
    // Reap finished runs.
    for (int status = 0;;) {
      pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      auto it = children.find(pid);
      if (it == children.end()) continue;
      int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      log_line("finished " + it->second.schedule + " @ " +
               engine::format_local_iso(it->second.nominal, "UTC") + " (exit " +
               std::to_string(code) + ")");
      children.erase(it);
    }
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
    // Decide.
    std::vector<engine::ScheduleInput> inputs;
    std::map<std::string, const Loaded*> owner;
    for (const auto& [path, l] : loaded) {
      for (const auto& s : l.spec.schedules) {
        engine::ScheduleInput in;
        in.spec = &s;
        auto st = store->get_schedule(s.id);
        if (st && st.value() && st.value()->last_nominal_fire) {
          in.last_nominal =
              SysSeconds(seconds(static_cast<long long>(*st.value()->last_nominal_fire)));
        }
        for (const auto& [pid, c] : children)
          if (c.schedule == s.id) in.running.push_back(pid);
        inputs.push_back(in);
        owner[s.id] = &l;
      }
    }
    auto plan = scheduler.decide(inputs);
    std::map<std::string, SysSeconds> new_last(plan.last_nominal.begin(), plan.last_nominal.end());
    // At most once: persist the new state first, then act.
    for (const auto& [id, t] : new_last) {
      const Loaded* l = owner[id];
      const engine::ScheduleSpec* spec = nullptr;
      for (const auto& s : l->spec.schedules)
        if (s.id == id) spec = &s;
      store::ScheduleState st;
      if (auto old = store->get_schedule(id); old && old.value()) st = *old.value();
      st.name = id;
      st.pipeline_file = l->file.string();
      st.cron = spec->expression;
      st.timezone = spec->timezone;
      st.last_nominal_fire = static_cast<double>(t.time_since_epoch().count());
      if (auto s = store->put_schedule(st); !s) log_line("error: " + s.message());
    }
    for (const auto& d : plan.decisions) {
      const std::string when = engine::format_local_iso(d.nominal, "UTC");
      using Kind = engine::ScheduleDecision::Kind;
      if (d.kind == Kind::kCancel) {
        log_line("cancel " + d.schedule_id + " run (pid " + std::to_string(d.run_id) +
                 "): " + d.reason);
        kill(static_cast<pid_t>(d.run_id), SIGINT);
      } else if (d.kind == Kind::kSkipped || d.kind == Kind::kMissed) {
        log_line(std::string(engine::to_string(d.kind)) + " " + d.schedule_id + ": " +
                 std::to_string(d.count) + " fire(s) up to " + when + " (" + d.reason + ")");
      } else {
        const Loaded* l = owner[d.schedule_id];
        std::string stamp = when;
        for (char& c : stamp)
          if (c == ':') c = '-';
        std::string safe_id = d.schedule_id;
        for (char& c : safe_id)
          if (c == '/') c = '_';
        fs::path log_file = home / "scheduler" / (safe_id + "@" + stamp + ".log");
        pid_t pid =
            spawn_run(exe, run_file(home, *l), d.params, log_file, d.schedule_id, d.nominal);
        if (pid < 0) {
          log_line("error: cannot start " + d.schedule_id + " @ " + when);
          continue;
        }
        children[pid] = {d.schedule_id, d.nominal};
        log_line("start " + d.schedule_id + " @ " + when + " (pid " + std::to_string(pid) +
                 ", log " + log_file.string() + ")");
      }
    }
    // Sleep until the next due time, the next file scan, or a stop (in short steps: a run that
    // ends or a signal is noticed within a fraction of a second).
    double wake = next_scan;
    if (plan.wake_at) {
      wake = std::min(wake,
                      clock.to_real(static_cast<double>(plan.wake_at->time_since_epoch().count())));
    }
    while (g_stop.load() == 0 && real_now() < wake) {
      std::this_thread::sleep_for(std::chrono::milliseconds(
          static_cast<int>(std::clamp((wake - real_now()) * 1000.0, 1.0, 100.0))));
      siginfo_t info{};
      if (!children.empty() && waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
          info.si_pid != 0)
        break;
    }
  }

  log_line("scheduler: stopping; waiting for " + std::to_string(children.size()) +
           " run(s) (signal again to cancel them; `llmops resume` continues a cancelled run)");
  bool forwarded = false;
  while (!children.empty()) {
    if (g_stop.load() > 1 && !forwarded) {
      for (const auto& [pid, c] : children) kill(pid, SIGINT);
      forwarded = true;
    }
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      children.erase(pid);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  log_line("scheduler: stopped");
  return kExitOk;
}

}  // namespace llmops::cli
