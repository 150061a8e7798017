// TriggerInfo: why a run started, as kept in the run's record (runs.trigger_info_json).
//
// One codec for what used to travel as loose JSON: a feedback re-entry's trigger (kind, reason,
// payload, the step that raised it), the step it re-enters and the extra inputs that step gets
// from the triggering run, and for a re-entry into another pipeline which run its upstream steps
// come from. Fields of other triggers (the scheduler's schedule, fire token and nominal time)
// are kept as they are in `other`. Plain data.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/store.hpp"

namespace llmops::engine {

struct TriggerInfo {
  std::string kind, reason, step;  // the trigger and the step that raised it
  nlohmann::json payload = nlohmann::json::object();
  std::string reenter;  // the re-entered step
  // Inputs given to steps beyond their own (role = the input's name), by step.
  std::map<std::string, std::vector<store::Event>> extra_inputs;
  std::string pipeline, triggered_by;  // a re-entry into another pipeline: its name, and ours
  std::optional<int64_t> upstream_run;
  nlohmann::json other = nlohmann::json::object();  // fields this codec does not own

  // Unparseable text gives an empty TriggerInfo (the record is informational there).
  static TriggerInfo parse(const std::string& json_text);
  std::string dump() const;
};

// For the scheduler's runs: their info as given (schedule, fire, nominal), nothing else.
TriggerInfo trigger_info_from_json(const nlohmann::json& j);

}  // namespace llmops::engine
