// ProcessLauncher: how `llmops scheduler` starts the runs its schedules ask for. Each run is a
// child `llmops run FILE --trigger KIND --trigger-info JSON -p K=V ...` (the same engine and
// feedback loop as by hand; KIND is cron or watch, JSON holds "fire": TOKEN) in its own process
// group (a Ctrl-C at the terminal stops the scheduler, not its runs), with stdin from /dev/null
// and stdout+stderr to LOG_DIR/LABEL.log, and in its environment:
//   LLMOPS_SCHEDULER_FIRE   TOKEN, by which a later scheduler recognises the process
// A process started by an earlier scheduler (not a child of this one) counts as alive only while
// /proc/PID/environ still holds its token, so a reused pid is never taken for it (where /proc
// cannot be read, kill(pid, 0) decides).
// Thread safety: one thread; not synchronised.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/triggers/schedule_daemon.hpp"

namespace llmops::cli {

class ProcessLauncher : public engine::Launcher {
 public:
  ProcessLauncher(std::filesystem::path exe, std::filesystem::path log_dir)
      : exe_(std::move(exe)), log_dir_(std::move(log_dir)) {}

  Result<engine::Launched> start(const engine::LaunchRequest& request) override;
  bool alive(int64_t pid, const std::string& token) override;
  bool interrupt(int64_t pid, const std::string& token) override;

  // Collects the children that ended; returns "LABEL (exit N)" for each, for the log.
  std::vector<std::string> reap();
  size_t children() const { return children_.size(); }
  // SIGINT to every child still running (a stopping scheduler, signalled twice).
  void interrupt_all();

 private:
  std::filesystem::path exe_, log_dir_;
  std::map<pid_t, std::string> children_;  // running children -> label
  std::vector<std::string> finished_;      // reaped, not yet reported
};

}  // namespace llmops::cli
