// SubprocessExecutor: runs each step attempt in a worker process (`llmops exec-step`), so that a
// plugin that crashes, aborts, calls exit(), runs out of memory or hangs fails its own step only.
//
// The worker protocol is in engine/exec/step_worker.hpp; workers are forked by the fork server or
// spawned. The plugin's own stdout and stderr go to the step log.
// Cancellation sends SIGTERM, then SIGKILL after the grace period. A memory limit
// (resources.memory) is applied with RLIMIT_AS. Thread safety: execute() may run concurrently for
// different steps.
#pragma once

#include <filesystem>

#include "engine/exec/executor.hpp"
#include "engine/exec/fork_server.hpp"

namespace llmops::engine {

class SubprocessExecutor : public ThreadedExecutor {
 public:
  // `worker`: the llmops binary that implements `exec-step` and `fork-server`. With
  // `fork_server`, workers are forked by a warm server (engine/exec/fork_server.hpp) instead of
  // being started from scratch (exec, dynamic linking) for every step; the plain way is the
  // fallback.
  SubprocessExecutor(std::filesystem::path worker, double grace_s = 5.0, bool fork_server = true);
  ~SubprocessExecutor() override;
  StepResult execute(const StepRequest& request) override;

 private:
  struct Worker {
    pid_t pid = -1;
    int status_fd = -1;  // from the fork server: "exit <status>" arrives here; -1 when spawned
  };
  // Starts the worker for request file `req` with `result_fd` as its fd 3: forked by the fork
  // server, or spawned when the server is not there.
  Result<Worker> start_worker(const std::string& req, const std::string& log, int result_fd);

  std::filesystem::path worker_;
  double grace_s_;
  std::unique_ptr<ForkServerClient> fork_;
};

}  // namespace llmops::engine
