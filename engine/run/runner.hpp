// Runner: plans, records and executes a pipeline run against the store.
//
// Flow (DESIGN.md "How a run flows"): the caller loads and validates a PipelineSpec; start()
// records the run and its planned steps; execute() drives the SchedulerCore with a thread pool,
// resolves each step's templates and inputs, looks up the cache, runs the step through its
// executor, seals the outputs into the blob store and records execution, artifacts, events and
// metrics in one transaction. resume() continues a failed or interrupted run from the store.
// Thread safety: one run per Runner at a time; callbacks come from the Runner's own thread except
// on_event's progress notes, which come from step threads.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "engine/exec/executor.hpp"
#include "engine/plugins/plugin_host.hpp"
#include "engine/spec/pipeline.hpp"
#include "store/store.hpp"

namespace llmops::engine {

struct RunEvent {
  enum Type { kState, kProgress, kLog } type = kState;
  std::string step;
  std::string state;  // kState: new step state
  int attempt = 0;
  std::string note;  // reason, progress note or log line
  double done = 0, total = 0;
};

struct RunOptions {
  int max_parallel = 0;  // 0: number of cores
  bool no_cache = false;
  bool fail_fast = false;
  double grace_s = 5.0;
  std::string trigger = "manual";
  std::optional<int64_t> parent_run;
  int cycle = 0;
  std::string trigger_info_json = "{}";
  std::function<void(const RunEvent&)> on_event;  // must be thread-safe
  // Set (e.g. by a SIGINT handler) to cancel the run.
  std::shared_ptr<std::atomic<bool>> interrupt;
};

struct RunSummary {
  int64_t run_id = 0;
  std::string state;  // succeeded | failed | cancelled
  std::map<std::string, std::string> step_states;
  std::vector<TriggerRecord> triggers;  // raised by monitor steps
  double seconds = 0;
};

class Runner {
 public:
  Runner(store::Store& store, std::shared_ptr<PluginHost> host);
  ~Runner();

  // Registers an executor under a name ("inprocess" is always there).
  void add_executor(const std::string& name, std::shared_ptr<Executor> executor);

  // Records a new run of a validated spec; nothing runs yet.
  Result<int64_t> start(const PipelineSpec& spec, const std::string& spec_text,
                        const RunOptions& options);
  // Runs (or continues) a recorded run to the end.
  Result<RunSummary> execute(int64_t run_id, const RunOptions& options);
  // start + execute.
  Result<RunSummary> run(const PipelineSpec& spec, const std::string& spec_text,
                         const RunOptions& options);

 private:
  // execute() with the spec already loaded (run() has it: no need to parse the recorded text).
  Result<RunSummary> execute(int64_t run_id, const RunOptions& options,
                             const PipelineSpec* loaded_spec);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Folder of a run's logs and step work folders: <home>/runs/<id>.
std::filesystem::path run_dir(const std::filesystem::path& home, int64_t run_id);

}  // namespace llmops::engine
