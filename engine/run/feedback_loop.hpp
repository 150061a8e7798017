// FeedbackLoop: the heart of the lifecycle. A run finishes; when a step of it (a monitor finding
// drift) raised a trigger that a `feedback:` rule of its pipeline matches, a new run re-enters a
// pipeline at the rule's step, and so on until no rule matches, a rule's max_cycles is reached,
// or a run fails. Shared by `llmops run` and the scheduler's runs; the CLI only prints.
//
// A re-entry run records trigger `feedback`, its parent run (the triggering run), its cycle (the
// parent's plus one) and a TriggerInfo (engine/run/trigger_info.hpp) with the trigger, the
// re-entered step and the extra inputs the rule's `with:` passes to it from the triggering run.
// Steps that are not the re-entered step or downstream of it are taken from a finished run
// (recorded as `cached` executions with that run's inputs and outputs, so lineage walks through
// both cycles): the triggering run itself, or, when the rule re-enters another pipeline
// (`reenter: {pipeline: FILE, step: S}`), that pipeline's latest successful run, whose parameters
// the new run also takes. Not thread-safe.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/run/runner.hpp"
#include "engine/spec/loaded_pipeline.hpp"
#include "store/store.hpp"

namespace llmops::engine {

// Loads and validates another pipeline's file, as `llmops run` would.
using PipelineLoader =
    std::function<Result<std::shared_ptr<const LoadedPipeline>>(const std::filesystem::path&)>;

// One run of a chain and the pipeline it ran.
struct ChainLink {
  int64_t run_id = 0;
  store::State state = store::State::kPending;  // succeeded | failed | cancelled
  std::shared_ptr<const LoadedPipeline> pipeline;
  std::string why;  // how it was entered: "" for the first, else "drift raised by monitor: ..."
};

struct Reentry {
  int64_t run_id = 0;
  std::string why;                   // "drift raised by monitor: PSI 0.41 > 0.2"
  std::shared_ptr<const Plan> plan;  // of the pipeline the new run belongs to
  bool other_pipeline = false;
};

// What the loop tells whoever watches it (the CLI prints these).
struct FeedbackObserver {
  std::function<void(int64_t run_id)> run_started;
  std::function<void(const RunSummary&)> run_finished;
  std::function<void(const Reentry&)> reentering;
  // Why no re-entry followed a run that raised a trigger, or that the loop is done.
  std::function<void(const std::string&)> stopped;
};

class FeedbackLoop {
 public:
  FeedbackLoop(store::Store& store, Runner& runner, PipelineLoader load = {})
      : store_(store), runner_(runner), load_(std::move(load)) {}

  // Executes recorded run `first_run` of `plan`'s pipeline, then follows feedback while runs
  // succeed. The chain's runs in order; an error means the store (or a re-entered pipeline)
  // failed.
  Result<std::vector<ChainLink>> run(std::shared_ptr<const Plan> plan, int64_t first_run,
                                     const RunOptions& options,
                                     const FeedbackObserver& observer = {});

  // After `finished` (a run of `plan`'s pipeline): when one of its triggers matches a rule and
  // the chain is within max_cycles and the cooldown, records the re-entry run (not executed yet)
  // and returns it; otherwise nullopt, with `note` saying why when a trigger was raised.
  Result<std::optional<Reentry>> plan_reentry(std::shared_ptr<const Plan> plan,
                                              const RunSummary& finished, std::string* note);

 private:
  store::Store& store_;
  Runner& runner_;
  PipelineLoader load_;
};

}  // namespace llmops::engine
