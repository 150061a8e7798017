// Runner: records runs of loaded pipelines and executes them, against one store.
//
// Flow (DESIGN.md "How a run flows"): LoadedPipeline (engine/spec/loaded_pipeline.hpp) -> start()
// records the run, its text and its planned steps -> execute() builds the Plan
// (engine/plan/plan.hpp) and drives a RunLoop (engine/run/run_loop.hpp) over the real clock, the
// registered executors and a RunRecorder on the store. A resumed run is planned from its
// recorded text alone. The feedback loop (engine/run/feedback_loop.hpp) sits on top of this.
// Thread safety: one run at a time per Runner; callbacks as RunLoop's.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "engine/exec/executor.hpp"
#include "engine/plan/plan.hpp"
#include "engine/plugins/plugin_host.hpp"
#include "engine/run/run_lease.hpp"
#include "engine/run/run_loop.hpp"
#include "engine/run/trigger_info.hpp"
#include "engine/spec/loaded_pipeline.hpp"
#include "store/store.hpp"

namespace llmops::engine {

struct RunOptions {
  int max_parallel = 0;  // 0: number of cores
  bool no_cache = false;
  bool fail_fast = false;
  double grace_s = 5.0;
  std::function<void(const RunEvent&)> on_event;  // must be thread-safe
  // Set (e.g. by a SIGINT handler) to cancel the run.
  std::shared_ptr<std::atomic<bool>> interrupt;
  LeaseOptions lease;  // the run's owner lease (engine/run/run_lease.hpp)
};

// Why a run exists: recorded with it.
struct RunOrigin {
  std::string trigger = "manual";  // manual | cron | watch | feedback
  std::optional<int64_t> parent_run;
  int cycle = 0;
  TriggerInfo info;
  // Recorded instead of the pipeline's own parameter values (a re-entry into another pipeline
  // takes those of the run its upstream steps come from).
  std::optional<nlohmann::json> params;
};

// Records a new run of a loaded (and validated) pipeline, its text and its planned steps.
Result<int64_t> record_run(store::Store& store, const LoadedPipeline& pipeline,
                           const RunOrigin& origin);

class Runner {
 public:
  Runner(store::Store& store, std::shared_ptr<PluginHost> host);
  ~Runner();

  // Registers an executor under a name ("inprocess" is always there).
  void add_executor(const std::string& name, std::shared_ptr<Executor> executor);

  // Whether every executor the plan's steps use is registered and can start attempts now
  // (Executor::preflight); the error names the step and what is missing. execute() checks it
  // before any step starts; call it before start() not to record a run that cannot run.
  Status preflight(const Plan& plan) const;
  // The plan of a loaded pipeline with the installed plugins.
  Result<Plan> plan(std::shared_ptr<const LoadedPipeline> pipeline) const;
  // Records a new run of a loaded (and validated) pipeline; nothing runs yet.
  Result<int64_t> start(const LoadedPipeline& pipeline, const RunOrigin& origin);
  // Runs (or continues) a recorded run to the end. `plan`: the plan of the pipeline it was
  // started from (its text must be the recorded one); null: planned from the recorded text
  // (resume).
  Result<RunSummary> execute(int64_t run_id, const RunOptions& options, const Plan* plan = nullptr);
  // start + execute.
  Result<RunSummary> run(std::shared_ptr<const LoadedPipeline> pipeline, const RunOrigin& origin,
                         const RunOptions& options);

 private:
  // execute() once the run is this engine's.
  Result<RunSummary> execute_owned(int64_t run_id, const RunOptions& options, const Plan* plan,
                                   std::shared_ptr<std::atomic<bool>> interrupt);

  store::Store& store_;
  std::shared_ptr<PluginHost> host_;
  ExecutorMap executors_;
};

}  // namespace llmops::engine
