// SubprocessExecutor: runs each step attempt in a worker process (`llmops exec-step`), so that a
// plugin that crashes, aborts, calls exit(), runs out of memory or hangs fails its own step only.
//
// Protocol: the engine writes the request as JSON to <work_dir>/request.json and starts the worker
// with a pipe on fd 3 (forked by the fork server, or spawned); the worker writes one JSON object
// per line to it (progress, log, result). The plugin's own stdout and stderr go to the step log.
// Cancellation sends SIGTERM, then SIGKILL after the grace period. A memory limit
// (resources.memory) is applied with RLIMIT_AS. Thread safety: execute() may run concurrently for
// different steps.
#pragma once

#include <filesystem>

#include "engine/exec/executor.hpp"
#include "engine/exec/fork_server.hpp"

namespace llmops::engine {

class SubprocessExecutor : public Executor {
 public:
  // `worker`: the llmops binary that implements `exec-step` and `fork-server`. With
  // `fork_server`, workers are forked by a warm server (engine/exec/fork_server.hpp) instead of
  // being started from scratch (exec, dynamic linking) for every step; the plain way is the
  // fallback.
  SubprocessExecutor(std::filesystem::path worker, double grace_s = 5.0, bool fork_server = true);
  ~SubprocessExecutor() override;
  StepResult execute(const StepRequest& request) override;

 private:
  std::filesystem::path worker_;
  double grace_s_;
  std::unique_ptr<ForkServerClient> fork_;
};

// The worker side: reads the request file, runs the plugin, reports on `protocol_fd`.
// Returns the process exit code.
int exec_step_main(const std::filesystem::path& request_file, int protocol_fd);

// StepRequest <-> JSON (for the worker protocol).
nlohmann::json request_to_json(const StepRequest& r);
StepRequest request_from_json(const nlohmann::json& j);

}  // namespace llmops::engine
