// Internal to the loader (loader.cpp, loader_steps.cpp, loader_util.cpp): the YAML walker.
// Not part of the engine's API; include engine/spec/loader.hpp instead.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "engine/spec/loader.hpp"

namespace llmops::engine::detail {

SourcePos pos_of(const YAML::Node& node);
// YAML 1.2 core-schema resolution of a scalar: quoted -> string; plain -> null, bool, int, float
// or string.
nlohmann::json resolve_scalar(const YAML::Node& node);
// A whole node as JSON. When `value_pos`/`key_pos` are given, records each node's position under
// its JSON pointer (relative to `pointer`).
nlohmann::json yaml_to_json(const YAML::Node& node, const std::string& pointer = "",
                            std::map<std::string, SourcePos>* value_pos = nullptr,
                            std::map<std::string, SourcePos>* key_pos = nullptr);
std::string yaml_type_name(const YAML::Node& node);

// The first limit of `limits` that YAML `text` crosses, found in one streaming pass of the parser
// before the loader builds the node tree and walks it (walking expands every alias). Counts nodes
// with aliases expanded (the size of each anchored node is known when it ends), the nesting depth,
// and refuses an alias inside the node it names (a cycle: the walkers would never end). Syntax
// errors throw YAML::ParserException, as YAML::Load does. Only the first document is read, as
// YAML::Load does.
struct LimitError {
  SourcePos pos;
  std::string message;
};
std::optional<LimitError> check_yaml_limits(const std::string& text, const LoadLimits& limits);
// "1 MiB (1048576 bytes)", "262144".
std::string describe_bytes(size_t bytes);
std::string join(const std::vector<std::string>& items, const std::string& sep = ", ");
bool matches_name(const std::string& s, bool allow_upper, bool allow_leading_underscore);

// One key of a mapping as the walker hands it out.
struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
  SourcePos key_pos;
  SourcePos value_pos;  // the key's position when the value is empty
};

class Loader {
 public:
  Loader(std::string file, const std::map<std::string, std::string>& overrides, bool require_params,
         const LoadLimits& limits)
      : file_(std::move(file)),
        overrides_(overrides),
        require_params_(require_params),
        limits_(limits) {}
  LoadResult load(const std::string& text);

  // Shared with loader_steps.cpp.
  void error(SourcePos pos, std::string message);
  // Mapping entries in order, reporting a non-mapping, duplicates, and (when `allowed` is not
  // empty) unknown keys. Returns only usable entries (known keys, first occurrence).
  std::vector<Entry> entries(const YAML::Node& node, SourcePos where, const std::string& what,
                             const std::vector<std::string>& allowed);
  std::optional<std::string> get_string(const Entry& e, const std::string& what);
  std::optional<bool> get_bool(const Entry& e, const std::string& what);
  std::optional<double> get_number(const Entry& e, const std::string& what);
  std::optional<int64_t> get_int(const Entry& e, const std::string& what);
  std::optional<double> get_duration(const Entry& e, const std::string& what);
  std::optional<RetryPolicy> get_retries(const Entry& e, const std::string& what, RetryPolicy base);
  // `executor:`, a name or `${{ params.NAME }}` (resolved here: params are loaded first).
  std::optional<std::string> get_executor(const Entry& e, const std::string& what);
  // `slurm:` (loader_slurm.cpp), checked; `where` names its owner ("step 'train'").
  std::optional<nlohmann::json> get_slurm(const Entry& e, const std::string& where);

 private:
  void load_params(const Entry& e);
  void apply_overrides();
  void load_defaults(const Entry& e);
  void load_steps(const Entry& e);
  void load_step(StepSpec& step, const Entry& e, const std::vector<std::string>& step_names);
  void load_resources(StepSpec& step, const Entry& e);
  // `schedule:` (loader_schedule.cpp): one mapping or a list of them -> spec_.schedules.
  void load_schedule(const Entry& e);
  void load_schedule_entry(const YAML::Node& node, SourcePos where, const std::string& id,
                           const std::string& what);
  // Where, in the file, character `offset` of the one-line scalar `node` is (quotes and all);
  // the scalar's own position when it spans lines or holds escapes.
  SourcePos pos_in_scalar(const YAML::Node& node, size_t offset) const;
  void collect_templates(StepSpec& step, const std::string& text, SourcePos pos,
                         const std::string& where, bool whole_expression);
  void walk_with_templates(StepSpec& step, const nlohmann::json& value, const std::string& pointer,
                           const std::string& where);
  void add_implied_needs(StepSpec& step, const std::vector<std::string>& step_names);
  // yaml_to_json keeps the first of duplicate keys; this reports every duplicate in a subtree.
  void check_nested_duplicates(const YAML::Node& node, const std::string& what);

  std::string file_;
  const std::map<std::string, std::string>& overrides_;
  bool require_params_;
  LoadLimits limits_;
  PipelineSpec spec_;
  std::vector<Diagnostic> diags_;
  std::vector<std::string> lines_;  // the source text, for columns inside scalars
};

}  // namespace llmops::engine::detail
