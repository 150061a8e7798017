// Pipeline loading: the `steps:` block (see engine/spec/loader_impl.hpp).
#include <algorithm>
#include <regex>
#include <set>

#include "base/strings.hpp"
#include "engine/spec/loader_impl.hpp"
#include "engine/spec/template.hpp"

namespace llmops::engine::detail {

using nlohmann::json;

namespace {

const std::vector<std::string> kStepKeys = {"uses",   "description", "with",    "needs",
                                            "inputs", "when",        "retries", "timeout",
                                            "cache",  "executor",    "slurm",   "resources"};

}  // namespace

void Loader::check_nested_duplicates(const YAML::Node& node, const std::string& what) {
  if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) check_nested_duplicates(node[i], what);
  } else if (node.IsMap()) {
    std::map<std::string, int> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) continue;
      const std::string key = it->first.Scalar();
      if (auto prev = seen.find(key); prev != seen.end()) {
        error(pos_of(it->first), "duplicate key '" + key + "' in " + what +
                                     " (first defined at line " + std::to_string(prev->second) +
                                     "); remove one of them");
        continue;
      }
      seen[key] = pos_of(it->first).line;
      check_nested_duplicates(it->second, what);
    }
  }
}

void Loader::load_steps(const Entry& e) {
  auto items = entries(e.value, e.value_pos, "'steps'", {});
  if (items.empty() && (e.value.IsNull() || (e.value.IsMap() && e.value.size() == 0))) {
    error(e.key_pos, "'steps' is empty: add at least one step, e.g. `hello: {uses: testing/noop}`");
    return;
  }
  std::vector<std::string> names;
  for (const auto& item : items) names.push_back(item.key);
  for (const auto& item : items) {
    if (!matches_name(item.key, true, false)) {
      error(item.key_pos, "invalid step name '" + item.key +
                              "': use letters, digits, '-' and '_', starting with a letter or "
                              "digit");
      continue;
    }
    StepSpec step;
    step.name = item.key;
    step.pos = item.key_pos;
    load_step(step, item, names);
    spec_.steps.push_back(std::move(step));
  }
}

void Loader::load_step(StepSpec& step, const Entry& e, const std::vector<std::string>& names) {
  const std::string what = "step '" + step.name + "'";
  if (e.value.IsNull()) {
    error(e.key_pos, what + " is empty: give it at least `uses: kind/name`");
    return;
  }
  if (!e.value.IsMap()) {
    error(e.value_pos, what + " must be a mapping with at least `uses: kind/name`, got " +
                           yaml_type_name(e.value));
    return;
  }
  bool has_uses = false;
  step.retries = std::nullopt;
  for (const auto& item : entries(e.value, e.value_pos, what, kStepKeys)) {
    const std::string& key = item.key;
    if (key == "uses") {
      has_uses = true;
      auto v = get_string(item, what);
      if (!v) continue;
      step.uses_pos = item.value_pos;
      std::string id = *v, constraint;
      if (auto at = v->find('@'); at != std::string::npos) {
        id = v->substr(0, at);
        constraint = base::trim(v->substr(at + 1));
      }
      static const std::regex kId("[a-z][a-z0-9_-]*/[a-z0-9][a-z0-9_.-]*");
      if (!std::regex_match(id, kId)) {
        error(item.value_pos, "invalid 'uses' value '" + *v +
                                  "': write kind/name, optionally with a version constraint, "
                                  "e.g. testing/write or testing/write@^1.0");
        continue;
      }
      if (v->find('@') != std::string::npos &&
          (constraint.empty() || !semver_constraint_valid(constraint))) {
        error(item.value_pos, "invalid version constraint '" + constraint + "' in '" + *v +
                                  "': use e.g. 1.2.3, ^1.2, ~1.2, >=1.0 or '>=1.0 <2'");
        continue;
      }
      step.uses = id;
      step.version_constraint = constraint;
    } else if (key == "description") {
      if (auto v = get_string(item, what)) step.description = *v;
    } else if (key == "with") {
      if (item.value.IsNull()) continue;
      if (!item.value.IsMap()) {
        error(item.value_pos, "'with' in " + what +
                                  " must be a mapping of plugin parameters, got " +
                                  yaml_type_name(item.value));
        continue;
      }
      check_nested_duplicates(item.value, "'with' of " + what);
      step.with = yaml_to_json(item.value, "", &step.with_value_pos, &step.with_key_pos);
      step.with_value_pos[""] = item.key_pos;
    } else if (key == "needs") {
      std::vector<YAML::Node> list;
      if (item.value.IsScalar()) {
        list.push_back(item.value);
      } else if (item.value.IsSequence()) {
        for (size_t i = 0; i < item.value.size(); ++i) list.push_back(item.value[i]);
      } else if (!item.value.IsNull()) {
        error(item.value_pos, "'needs' in " + what + " must be a list of step names, got " +
                                  yaml_type_name(item.value));
      }
      for (const auto& n : list) {
        if (!n.IsScalar()) {
          error(pos_of(n),
                "'needs' in " + what + " must list step names, got " + yaml_type_name(n));
          continue;
        }
        const std::string need = n.Scalar();
        if (need == step.name) {
          error(pos_of(n), what + " needs itself; remove '" + need + "' from its needs");
          continue;
        }
        if (std::find(step.needs.begin(), step.needs.end(), need) != step.needs.end()) continue;
        step.needs.push_back(need);
        step.needs_pos.push_back(pos_of(n));
      }
    } else if (key == "inputs") {
      for (const auto& in : entries(item.value, item.value_pos, "'inputs' of " + what, {})) {
        if (!in.value.IsScalar() || in.value.IsNull()) {
          error(in.value_pos, "input '" + in.key + "' of " + what +
                                  " must be a string: a template such as "
                                  "${{ steps.prepare.outputs.out }} or a path");
          continue;
        }
        step.inputs[in.key] = in.value.Scalar();
        step.inputs_pos[in.key] = in.key_pos;
        collect_templates(step, in.value.Scalar(), in.value_pos,
                          "steps." + step.name + ".inputs." + in.key, false);
      }
    } else if (key == "when") {
      if (!item.value.IsScalar() || item.value.IsNull()) {
        error(item.value_pos, "'when' in " + what +
                                  " must be an expression, e.g. \"${{ params.deploy }}\" or "
                                  "\"steps.eval.metrics.accuracy > 0.8\"");
        continue;
      }
      step.when = base::trim(item.value.Scalar());
      step.when_pos = item.value_pos;
      collect_templates(step, step.when, item.value_pos, "steps." + step.name + ".when", true);
    } else if (key == "retries") {
      if (auto r = get_retries(item, what, spec_.defaults.retries)) step.retries = *r;
    } else if (key == "timeout") {
      if (auto t = get_duration(item, what)) step.timeout_s = *t;
    } else if (key == "cache") {
      if (auto c = get_bool(item, what)) step.cache = *c;
    } else if (key == "executor") {
      if (auto x = get_executor(item, what)) step.executor = *x;
    } else if (key == "slurm") {
      if (auto x = get_slurm(item, "step '" + step.name + "'")) step.slurm = *x;
    } else if (key == "resources") {
      load_resources(step, item);
    }
  }
  bool misspelt_uses = false;  // then "unknown key 'use'; did you mean 'uses'?" says it all
  for (auto it = e.value.begin(); !has_uses && it != e.value.end(); ++it) {
    if (it->first.IsScalar() && closest_match(it->first.Scalar(), kStepKeys) == "uses")
      misspelt_uses = true;
  }
  if (!has_uses && !misspelt_uses) {
    error(step.pos, what + " has no 'uses': name the plugin to run, e.g. `uses: testing/noop`");
  }
  walk_with_templates(step, step.with, "", "steps." + step.name + ".with");
  add_implied_needs(step, names);
}

void Loader::load_resources(StepSpec& step, const Entry& e) {
  const std::string what = "'resources' of step '" + step.name + "'";
  for (const auto& item : entries(e.value, e.value_pos, what, {"cpus", "gpus", "memory"})) {
    if (item.key == "cpus") {
      auto v = get_number(item, what);
      if (v && *v <= 0) error(item.value_pos, "'cpus' in " + what + " must be more than 0");
      if (v && *v > 0) step.resources.cpus = *v;
    } else if (item.key == "gpus") {
      auto v = get_int(item, what);
      if (v && *v < 0) error(item.value_pos, "'gpus' in " + what + " must be 0 or more");
      if (v && *v >= 0) step.resources.gpus = static_cast<int>(*v);
    } else if (item.key == "memory") {
      std::optional<int64_t> bytes;
      if (item.value.IsScalar() && !item.value.IsNull()) bytes = parse_size(item.value.Scalar());
      if (!bytes || *bytes <= 0) {
        error(item.value_pos, "invalid 'memory' in " + what + ": " + yaml_type_name(item.value) +
                                  "; write a size such as 512Mi, 2Gi or 4G");
        continue;
      }
      step.resources.memory = *bytes;
    }
  }
}

void Loader::collect_templates(StepSpec& step, const std::string& text, SourcePos pos,
                               const std::string& where, bool whole_expression) {
  auto spans = find_templates(text);
  if (!spans) {
    error(pos, "in " + where + ": " + spans.status().message());
    return;
  }
  if (whole_expression) {
    if (!base::trim(text).empty()) step.templates.push_back({base::trim(text), pos, where});
    return;
  }
  for (const auto& span : *spans) step.templates.push_back({span.expr, pos, where});
}

void Loader::walk_with_templates(StepSpec& step, const json& value, const std::string& pointer,
                                 const std::string& where) {
  if (value.is_string()) {
    auto it = step.with_value_pos.find(pointer);
    SourcePos pos = it == step.with_value_pos.end() ? step.pos : it->second;
    collect_templates(step, value.get<std::string>(), pos, where, false);
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      walk_with_templates(step, value[i], pointer + "/" + std::to_string(i),
                          where + "[" + std::to_string(i) + "]");
    }
  } else if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      std::string escaped;
      for (char c : it.key()) escaped += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
      walk_with_templates(step, it.value(), pointer + "/" + escaped, where + "." + it.key());
    }
  }
}

void Loader::add_implied_needs(StepSpec& step, const std::vector<std::string>& names) {
  std::set<std::string> reported;
  for (const auto& t : step.templates) {
    auto refs = expression_refs(t.expr);
    if (!refs) continue;  // the validator reports expressions that do not parse
    for (const auto& ref : *refs) {
      if (ref.size() < 3 || ref[0] != "steps" || (ref[2] != "outputs" && ref[2] != "metrics"))
        continue;
      const std::string& other = ref[1];
      if (other == step.name) {
        if (reported.insert(t.where + join_ref(ref)).second) {
          error(t.pos, "step '" + step.name + "' refers to its own " + ref[2] + " ('" +
                           join_ref(ref) + "' in " + t.where +
                           "); a step can only use the outputs and metrics of steps before it");
        }
        continue;
      }
      if (std::find(names.begin(), names.end(), other) == names.end()) continue;
      if (std::find(step.needs.begin(), step.needs.end(), other) == step.needs.end()) {
        step.needs.push_back(other);
      }
    }
  }
}

}  // namespace llmops::engine::detail
