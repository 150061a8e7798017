// Executor: where one attempt of one step runs, behind one narrow interface.
//
// The run loop (engine/run/run_loop.hpp) builds a StepRequest (resolved parameters, inputs, work
// folder, cancellation flag) and submits it with a token; the executor starts the attempt and
// later hands a Completion (the plugin's Status, its declared outputs, metrics and triggers) to
// the CompletionSink, from any thread, exactly once per submitted token. submit() returns an
// external id (a pid, a Slurm job id; "" when the attempt cannot outlive this process) that the
// engine records with the execution, so a restarted engine can reattach() to the attempt instead
// of running it again. Implementations: `inprocess` (engine/exec/inprocess_executor.hpp) calls
// the plugin on a pool thread; `subprocess` (engine/exec/subprocess_executor.hpp) runs it in a
// worker process, so that a crash fails only that step. Remote backends (Slurm, executables that
// speak the step protocol) implement the same interface; the run loop does not change for them.
// Thread safety: submit, cancel and abandon are called from the run loop's thread; completions
// may arrive on any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/plugins/plugin_info.hpp"
#include "llmops/plugin.hpp"
#include "store/store.hpp"

namespace llmops::engine {

struct OutputDecl {
  std::string name, kind;
  std::filesystem::path path;
  std::string metadata_json = "{}";
};

struct MetricPoint {
  std::string name;
  double value = 0;
  int64_t step = -1;
  double time = 0;
};

struct TriggerRecord {
  std::string kind, reason, payload_json;
  std::string step;  // filled by the run loop
};

struct StepRequest {
  int64_t run_id = 0;
  std::string step;
  int attempt = 1;
  PluginInfo plugin;
  nlohmann::json params = nlohmann::json::object();
  std::vector<Input> inputs;
  std::filesystem::path work_dir;  // outputs/ and scratch/ live here
  std::filesystem::path log_path;
  int64_t memory_limit = 0;  // bytes; 0: none (enforced by the subprocess executor)
  double cpus = 0;           // resources.cpus; 0: not declared
  int gpus = 0;              // resources.gpus
  double timeout_s = 0;      // the step's timeout; 0: none
  std::string pipeline;      // the pipeline's name (for job names)
  nlohmann::json slurm = nlohmann::json::object();  // `slurm:` (engine/spec/slurm_spec.hpp)
  std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
  std::function<void(double done, double total, const std::string& note)> on_progress;
  std::function<void(LogLevel, const std::string&)> on_log;  // besides the log file
  // Where the attempt runs, as the executor sees it ({"job": .., "node": .., "state": ..}),
  // each time that changes; recorded with the execution. From any thread.
  std::function<void(const nlohmann::json&)> on_placement;
};

struct StepResult {
  Status status;
  std::vector<OutputDecl> outputs;
  std::vector<MetricPoint> metrics;
  std::vector<TriggerRecord> triggers;
};

// One attempt that ended: what the executor reported and, when it succeeded, its outputs sealed
// into the blob store (the sink seals them on the thread that completes, so hashing a large
// model never holds up the run loop).
struct Completion {
  uint64_t token = 0;
  StepResult result;
  std::filesystem::path work_dir;  // the attempt's; removed once its outputs are sealed
  std::vector<store::Event> sealed;
};

// Receives completions. Thread-safe.
class CompletionSink {
 public:
  virtual ~CompletionSink() = default;
  virtual void complete(Completion completion) = 0;
};

class Executor {
 public:
  virtual ~Executor() = default;

  // At most `max_parallel` attempts will be in flight at once in the coming run (a sizing hint).
  virtual void prepare(int max_parallel) {}
  // Whether attempts can be started at all (a scheduler that answers, its tools on PATH), asked
  // before a run that uses this executor starts any step. The error says what is missing.
  virtual Status preflight() { return Status::ok(); }
  // Starts the attempt. Its Completion goes to `sink` exactly once, later (from any thread). An
  // error means nothing was started and nothing will complete. Returns the external id.
  virtual Result<std::string> submit(uint64_t token, std::shared_ptr<StepRequest> request,
                                     std::shared_ptr<CompletionSink> sink) = 0;
  // Asks a submitted attempt to stop (timeout, fail-fast, Ctrl-C); its completion still comes.
  virtual void cancel(uint64_t token, StepRequest& request) { request.cancel->store(true); }
  // The attempt ignored cancellation past its grace period: the run loop stops waiting for it.
  // The executor frees what it can and must not let it block later attempts.
  virtual void abandon(uint64_t token) {}
  // Finds an attempt that an engine now gone submitted (by the external id it recorded) and
  // delivers its completion to `sink` as if it had been submitted here. The default cannot:
  // such attempts died with their engine, and the run loop records them as interrupted.
  virtual Status reattach(uint64_t token, std::shared_ptr<StepRequest> request,
                          const std::string& external_id, std::shared_ptr<CompletionSink> sink) {
    return Status(StatusCode::kUnavailable, "this executor cannot reattach to " + external_id);
  }
};

// A local executor whose attempts block a thread while they run (in-process and subprocess):
// submit() runs execute() on a pool of its own. An abandoned attempt keeps its thread; later
// attempts then get threads of their own instead of queueing behind it.
class ThreadedExecutor : public Executor, public std::enable_shared_from_this<ThreadedExecutor> {
 public:
  ThreadedExecutor();
  ~ThreadedExecutor() override;

  void prepare(int max_parallel) override;
  Result<std::string> submit(uint64_t token, std::shared_ptr<StepRequest> request,
                             std::shared_ptr<CompletionSink> sink) override;
  void abandon(uint64_t token) override;

  // Runs one attempt on the calling thread.
  virtual StepResult execute(const StepRequest& request) = 0;

  // Attempts still running on the threads of any ThreadedExecutor of this process. Once every
  // run is over, these are attempts abandoned to plugins that ignore cancellation: the process
  // must then end without running static destructors under them (see cli/main.cpp).
  static int attempts_running();

 private:
  struct Pool;
  std::unique_ptr<Pool> pool_;
};

}  // namespace llmops::engine
