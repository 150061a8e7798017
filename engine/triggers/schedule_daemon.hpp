// ScheduleDaemon: the part of `llmops scheduler` that decides and remembers, without the process
// plumbing. Each tick() it
//   1. reconciles the fires in flight (store table schedule_fires) with their processes: links
//      each to the run it recorded (which sets the schedule's last_run_id), ends those whose
//      process is gone, and marks a run whose engine process died while it was pending or running
//      as failed ("interrupted"), so `llmops resume` can take it, saying so in the log;
//   2. asks the CronScheduler what the cron entries should do, and applies it;
//   3. polls each watch entry whose poll time has come, and starts a run when the digest of its
//      files differs from the one that started the previous run (engine/triggers/watch.hpp).
// What is in flight comes from the store, not from memory, so concurrency `forbid` and `replace`
// hold across scheduler restarts: a run started by an earlier scheduler process counts until its
// process ends, and `replace` interrupts it through the Launcher (which checks that the pid still
// belongs to that run's process). New state is written before a process starts (at most once).
//
// Watch semantics: the first look at a watch records what is there as the baseline (no run); a
// later poll whose non-empty file set has another digest starts a run, once the change has stayed
// the same for `settle`. With `forbid` a change waits until the run in flight ends (it is not
// dropped); `replace` interrupts the run in flight and starts; a suspended watch is not polled.
// The processes themselves are the Launcher's (cli/scheduler_launcher.hpp spawns `llmops run`;
// tests use a fake). Thread safety: one thread; not synchronised.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/triggers/cron_scheduler.hpp"
#include "engine/triggers/watch.hpp"
#include "store/store.hpp"

namespace llmops::engine {

struct ScheduleTarget {
  const ScheduleSpec* spec = nullptr;   // not owned; must outlive tick()
  std::filesystem::path pipeline_file;  // where the schedule is defined (recorded in the store)
  std::filesystem::path run_file;       // what its runs start from (may be a snapshot)
};

// What one fire asks the Launcher to start: `llmops run FILE -p K=V ...` with the trigger.
struct LaunchRequest {
  std::string schedule_id;
  std::filesystem::path file;
  nlohmann::json params = nlohmann::json::object();
  std::string trigger;            // cron | watch
  std::string trigger_info_json;  // recorded on the run; holds "fire": token
  std::string token;              // identifies the process (LLMOPS_SCHEDULER_FIRE)
  std::string label;              // names its log: "SCHEDULE@TIME"
};

struct Launched {
  int64_t pid = 0;
  std::string log;  // where its output goes
};

class Launcher {
 public:
  virtual ~Launcher() = default;
  virtual Result<Launched> start(const LaunchRequest& request) = 0;
  // Whether process `pid`, started with `token`, is still running. False once it ended, and when
  // the pid now belongs to another process (possibly started by an earlier scheduler).
  virtual bool alive(int64_t pid, const std::string& token) = 0;
  // Asks it to stop (SIGINT: its run ends `cancelled`); false when it is not running.
  virtual bool interrupt(int64_t pid, const std::string& token) = 0;
};

class ScheduleDaemon {
 public:
  struct Options {
    CronScheduler::Options cron;
    std::filesystem::path watch_base;  // relative globs start here (empty: the current folder)
    std::function<void(const std::string&)> log;  // one line per event
  };

  ScheduleDaemon(store::Store& store, const Clock& clock, Launcher& launcher, Options options);

  // One round (see above). Returns the clock time at which something is due next (a cron fire,
  // a watch poll), or none when nothing waits.
  std::optional<SysSeconds> tick(const std::vector<ScheduleTarget>& targets);
  // Step 1 alone (also for a scheduler that is stopping).
  void reconcile();
  // Whether a fire in flight has not recorded its run yet (worth a quick look again).
  bool awaiting_runs() const { return awaiting_runs_; }

 private:
  // A run in flight for a schedule: a fire (a process) with or without its run yet, or a run no
  // fire knows (started before fires were recorded).
  struct InFlight {
    std::string schedule;
    std::optional<store::ScheduleFire> fire;
    std::optional<int64_t> run_id;
  };
  using Flights = std::map<std::string, std::vector<int64_t>>;  // schedule -> handles

  void log(const std::string& line) const;
  // Logs a store write that failed (`what`: which bookkeeping it was).
  void logged(const Status& s, const char* what) const;
  std::string describe(int64_t handle) const;
  std::string describe_all(const std::vector<int64_t>& handles) const;
  Flights collect_in_flight(const std::vector<ScheduleTarget>& targets);
  void cancel(int64_t handle, const std::string& reason);
  // Records the fire, starts its process, logs "start ...". False when nothing started.
  bool launch(const ScheduleTarget& t, store::ScheduleFire fire, LaunchRequest request,
              const std::string& what);
  void end_gone_fire(store::ScheduleFire& f);
  std::optional<SysSeconds> tick_cron(const std::vector<ScheduleTarget>& targets,
                                      const Flights& flights);
  // schedule_watch.cpp
  std::optional<SysSeconds> tick_watch(const ScheduleTarget& t, const Flights& flights,
                                       SysSeconds now);

  store::Store& store_;
  const Clock& clock_;
  Launcher& launcher_;
  Options options_;
  CronScheduler cron_;
  std::vector<store::ScheduleFire> open_;  // after reconcile(): fires whose process runs
  std::vector<InFlight> flights_;          // this tick's runs in flight (handle = index)
  bool awaiting_runs_ = false;
  // Watch state kept in memory (the digest that started the last run is in the store).
  struct WatchMemory {
    std::optional<SysSeconds> next_poll;
    bool looked = false;  // polled once by this daemon
    DigestCache cache;
    std::string seen_digest;  // the changed digest being settled
    SysSeconds seen_since{};
    std::string said;  // the last "waiting"/warning line logged, so it is said once
  };
  std::map<std::string, WatchMemory> watches_;
};

}  // namespace llmops::engine
