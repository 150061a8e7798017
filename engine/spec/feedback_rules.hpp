// FeedbackRule: one rule of a pipeline's `feedback:` block, typed and checked by the loader.
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
// is relative to this pipeline's file). What a rule does at run time is in
// engine/run/feedback_loop.hpp. Plain data.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/spec/pipeline.hpp"

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

// Parses and checks spec.feedback; problems become diagnostics at the offending value (positions
// recorded by the loader in spec.feedback_value_pos). A rule that re-enters another pipeline
// loads that file: a missing file, one that does not load or an unknown step there are errors.
std::vector<FeedbackRule> parse_feedback(const PipelineSpec& spec, std::vector<Diagnostic>* diags);

}  // namespace llmops::engine
