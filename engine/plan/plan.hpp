// Plan: a pipeline turned into what a run executes: its steps in topological order, the plugin
// each one uses, the executor each one runs on, and the Dag.
//
// Plan::build resolves every `uses:` against the catalog and rejects cycles and missing plugins
// (the validator has normally reported those already, with positions; the plan refuses to run
// them anyway). `llmops run`, `run --dry-run`, `resume` (from the recorded text) and feedback
// re-entry all build their plan here. Immutable after build; safe to read from several threads.
// It keeps the LoadedPipeline alive, so the spec the steps point into outlives the plan.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/plan/dag.hpp"
#include "engine/plugins/plugin_info.hpp"
#include "engine/run/step_scheduler.hpp"
#include "engine/spec/loaded_pipeline.hpp"

namespace llmops::engine {

struct PlannedStep {
  const StepSpec* spec = nullptr;
  const PluginInfo* plugin = nullptr;  // owned by the catalog, which must outlive the plan
  std::string executor;                // the step's, else the defaults', else the plugin's
  nlohmann::json slurm;                // the defaults' `slurm:` with the step's over it
  std::vector<int> needs;              // indices into Plan::steps()
  RetryPolicy retries;
  double timeout_s = 0;  // 0: none
  Resources resources;   // the step's, each field else the plugin's default
};

class Plan {
 public:
  static Result<Plan> build(std::shared_ptr<const LoadedPipeline> pipeline,
                            const PluginCatalog& catalog);

  const LoadedPipeline& pipeline() const { return *pipeline_; }
  std::shared_ptr<const LoadedPipeline> pipeline_ptr() const { return pipeline_; }
  const PipelineSpec& spec() const { return *pipeline_->spec; }
  const Dag& dag() const { return dag_; }
  // In topological order (ties in file order).
  const std::vector<PlannedStep>& steps() const { return steps_; }
  std::optional<int> index(const std::string& step) const;
  // The scheduler's view of the steps (same order).
  std::vector<SchedStep> sched_steps() const;
  // A re-entry at `step` runs it and everything downstream of it again; the rest is kept.
  std::set<std::string> rerun_from(const std::string& step) const;

 private:
  std::shared_ptr<const LoadedPipeline> pipeline_;
  Dag dag_;
  std::vector<PlannedStep> steps_;
  std::unordered_map<std::string, int> index_;
};

}  // namespace llmops::engine
