// Feedback: the pipeline's `feedback:` block, which turns a trigger raised by a step (a monitor
// finding drift) into a new run that re-enters the pipeline at a named step.
//
//   feedback:
//     - on: drift                 # trigger kind raised through StepContext::trigger
//       reenter: curate           # the step to run again, with everything downstream of it
//       with:                     # extra inputs of the re-entered step, from the triggering run
//         extra_data: ${{ steps.monitor.outputs.production }}
//       max_cycles: 2             # re-entries in one chain at most (default 1)
//       cooldown: 0s              # least time since the triggering run started
//
// The new run records trigger `feedback`, its parent run, its cycle and the trigger (kind,
// reason, payload, step) in its trigger info; steps that are not the re-entered step or
// downstream of it are taken from the parent run (recorded as `cached` executions with the
// parent's inputs and outputs, so lineage walks through both cycles). Not thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/pipeline.hpp"
#include "engine/plugin_host.hpp"
#include "engine/runner.hpp"
#include "store/store.hpp"

namespace llmops::engine {

struct FeedbackRule {
  std::string on;
  std::string reenter;
  nlohmann::json with = nlohmann::json::object();  // input name -> template
  int max_cycles = 1;
  double cooldown_s = 0;
};

// Parses and checks spec.feedback; problems become diagnostics at the block's position.
std::vector<FeedbackRule> parse_feedback(const PipelineSpec& spec, std::vector<Diagnostic>* diags);

struct Reentry {
  int64_t run_id = 0;
  std::string why;  // "drift raised by monitor: PSI 0.41 > 0.2"
};

// After `finished` (a run of `spec`): when one of its triggers matches a rule and the chain is
// within max_cycles and the cooldown, records the re-entry run (not executed yet) and returns it.
// `note` receives why nothing was started, when a trigger was raised but no run followed.
Result<std::optional<Reentry>> plan_reentry(store::Store& store, Runner& runner,
                                            const PipelineSpec& spec, const std::string& spec_text,
                                            const std::vector<FeedbackRule>& rules,
                                            const RunSummary& finished, std::string* note);

}  // namespace llmops::engine
