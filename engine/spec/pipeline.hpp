// PipelineSpec: the in-memory form of a pipeline file (apiVersion llmops/v1, kind Pipeline).
//
// Produced by load_pipeline() (engine/spec/loader.hpp) from YAML text; every node keeps its source
// position so that later stages (planner, validator) can report FILE:LINE:COL errors.
// Plain data; not synchronised.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/spec/pipeline_pos.hpp"
#include "engine/spec/schedule.hpp"

namespace llmops::engine {

// One error or warning tied to a place in the pipeline file.
struct Diagnostic {
  std::string file;
  SourcePos pos;
  std::string message;
  bool warning = false;
  // "FILE:LINE:COL: error: message"
  std::string str() const;
};

struct RetryPolicy {
  int max = 0;             // extra attempts after the first
  double initial_s = 1.0;  // first back-off
  double factor = 2.0;
  double max_s = 60.0;
  bool jitter = true;
};

struct Resources {
  double cpus = 0;  // 0: not declared
  int gpus = 0;
  int64_t memory = 0;  // bytes
};

struct ParamSpec {
  std::string name;
  std::string type;              // string | int | number | bool | list | map
  nlohmann::json default_value;  // null when required
  bool required = false;
  std::string description;
  SourcePos pos;
};

// A `${{ ... }}` expression found in a string, with the position of the string that holds it.
struct TemplateRef {
  std::string expr;  // the inside, trimmed: "steps.a.outputs.model"
  SourcePos pos;
  std::string where;  // "steps.train.with.lr", for messages
};

struct StepSpec {
  std::string name;
  SourcePos pos;  // the step's key under `steps:`
  std::string description;
  std::string uses;                // "kind/name"
  std::string version_constraint;  // "^1.2" from "kind/name@^1.2"; empty: any
  SourcePos uses_pos;
  std::vector<std::string> needs;    // declared plus implied by templates
  std::vector<SourcePos> needs_pos;  // parallel to the declared part of needs
  nlohmann::json with = nlohmann::json::object();
  // Positions inside `with:`, keyed by JSON pointer ("" is the `with:` map itself, "/opts/0" a
  // nested value): where each value starts, and where each mapping key is written.
  std::map<std::string, SourcePos> with_value_pos;
  std::map<std::string, SourcePos> with_key_pos;
  std::map<std::string, std::string> inputs;  // name -> "${{ steps.a.outputs.x }}" or a path
  std::map<std::string, SourcePos> inputs_pos;
  std::string when;  // empty: always
  SourcePos when_pos;
  std::optional<RetryPolicy> retries;
  std::optional<double> timeout_s;
  bool cache = true;
  std::string executor;  // empty: defaults, then the plugin's preference
  // `slurm:` as written and checked (engine/spec/slurm_spec.hpp); merged over the defaults' by
  // the plan. An object; empty when absent.
  nlohmann::json slurm = nlohmann::json::object();
  Resources resources;
  // Every template in with/inputs, plus the whole `when:` text as one entry (where "steps.X.when")
  // so that one pass over `templates` sees every expression of the step.
  std::vector<TemplateRef> templates;
};

struct Defaults {
  RetryPolicy retries;
  std::optional<double> timeout_s;
  std::string executor;
  nlohmann::json slurm = nlohmann::json::object();
};

// Step name -> position in PipelineSpec::steps, built on first use and checked on every hit, so
// edits to `steps` are safe (a stale entry is rebuilt). Copies start empty. Thread-safe.
class StepIndex {
 public:
  StepIndex() = default;
  StepIndex(const StepIndex&) {}
  StepIndex& operator=(const StepIndex&);
  const StepSpec* find(const std::vector<StepSpec>& steps, const std::string& name) const;

 private:
  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, size_t> pos_;
};

struct PipelineSpec {
  std::string file;  // path as given, for messages
  std::string api_version;
  std::string name;
  std::string description;
  std::vector<ParamSpec> params;
  nlohmann::json param_values = nlohmann::json::object();  // defaults + `-p` overrides, typed
  Defaults defaults;
  std::vector<StepSpec> steps;  // in file order
  nlohmann::json feedback;      // the `feedback:` block as written (null when absent)
  // Positions inside `feedback:` by JSON pointer ("/0/reenter/step"; a single rule is rule 0).
  std::map<std::string, SourcePos> feedback_value_pos;
  nlohmann::json schedule;              // the `schedule:` block as written (null when absent)
  std::vector<ScheduleSpec> schedules;  // typed, in file order (engine/spec/schedule.hpp)
  SourcePos feedback_pos, schedule_pos;

  const StepSpec* find_step(const std::string& name) const { return step_index.find(steps, name); }
  StepIndex step_index;
};

// Parses "30s", "1.5m", "2h", "1h30m", "500ms", "1d" into seconds. nullopt when malformed.
std::optional<double> parse_duration(const std::string& text);

}  // namespace llmops::engine
