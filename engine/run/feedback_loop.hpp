// Feedback: the pipeline's `feedback:` block, which turns a trigger raised by a step (a monitor
// finding drift) into a new run that re-enters a pipeline at a named step.
//
//   feedback:
//     - on: drift                 # trigger kind raised through StepContext::trigger
//       reenter: curate           # the step to run again, with everything downstream of it
//       with:                     # extra inputs of the re-entered step, from the triggering run
//         extra_data: ${{ steps.monitor.outputs.production }}
//       max_cycles: 2             # re-entries in one chain at most (default 1)
//       cooldown: 0s              # least time since the triggering run started
//
// `reenter: {pipeline: task-assistant.yaml, step: curate}` re-enters another pipeline (the path
// is relative to this pipeline's file): a monitoring pipeline that runs on its own re-enters the
// training pipeline. The new run is a run of that pipeline, with the parameters of its latest
// successful run (its defaults when it never succeeded).
//
// The new run records trigger `feedback`, its parent run (the triggering run), its cycle (the
// parent's plus one) and the trigger (kind, reason, payload, step) in its trigger info; steps that
// are not the re-entered step or downstream of it are taken from a finished run (recorded as
// `cached` executions with that run's inputs and outputs, so lineage walks through both cycles):
// the triggering run itself, or for another pipeline its latest successful run. Not thread-safe.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/plugins/plugin_host.hpp"
#include "engine/run/runner.hpp"
#include "engine/spec/pipeline.hpp"
#include "store/store.hpp"

namespace llmops::engine {

struct FeedbackRule {
  std::string on;
  std::string reenter;  // the step to re-enter
  // Another pipeline's file as written (empty: this pipeline) and resolved against this file's
  // folder.
  std::string pipeline;
  std::filesystem::path pipeline_path;
  nlohmann::json with = nlohmann::json::object();  // input name -> template
  int max_cycles = 1;
  double cooldown_s = 0;
};

// Parses and checks spec.feedback; problems become diagnostics at the offending value (read from
// `text`, or from spec.file when `text` is empty; the block's position when neither parses).
// A rule that re-enters another pipeline loads that file: a missing file, one that does not load
// or an unknown step there are errors.
std::vector<FeedbackRule> parse_feedback(const PipelineSpec& spec, std::vector<Diagnostic>* diags,
                                         const std::string& text = "");

// A pipeline the loop may run: its spec, the text recorded with its runs, its feedback rules.
struct FeedbackPipeline {
  PipelineSpec spec;
  std::string text;
  std::vector<FeedbackRule> rules;
};
// Loads and validates another pipeline's file (the CLI's check with the installed plugins).
using PipelineLoader =
    std::function<Result<std::shared_ptr<FeedbackPipeline>>(const std::filesystem::path&)>;

struct Reentry {
  int64_t run_id = 0;
  std::string why;  // "drift raised by monitor: PSI 0.41 > 0.2"
  // The pipeline the new run belongs to when it is not the triggering run's.
  std::shared_ptr<FeedbackPipeline> other;
};

// After `finished` (a run of `spec`): when one of its triggers matches a rule and the chain is
// within max_cycles and the cooldown, records the re-entry run (not executed yet) and returns it.
// `note` receives why nothing was started, when a trigger was raised but no run followed.
// `load` is needed only by rules that re-enter another pipeline.
Result<std::optional<Reentry>> plan_reentry(store::Store& store, Runner& runner,
                                            const PipelineSpec& spec, const std::string& spec_text,
                                            const std::vector<FeedbackRule>& rules,
                                            const RunSummary& finished, std::string* note,
                                            const PipelineLoader& load = {});

}  // namespace llmops::engine
