// parse_feedback: the `feedback:` block's rules, checked, with errors at the offending value.
#include "engine/spec/feedback_rules.hpp"

#include <functional>

#include "engine/spec/loader.hpp"
#include "engine/spec/template.hpp"

namespace fs = std::filesystem;

namespace llmops::engine {

namespace {

// error(json pointer below the rule, message)
using RuleError = std::function<void(const std::string&, const std::string&)>;

// `reenter: STEP` or `reenter: {pipeline: FILE, step: STEP}`; another pipeline's file is loaded
// to check that it exists, loads and has the step.
void parse_reenter(const nlohmann::json& reenter, const PipelineSpec& spec, FeedbackRule& rule,
                   const RuleError& error) {
  if (reenter.is_string()) {
    rule.reenter = reenter.get<std::string>();
    if (!spec.find_step(rule.reenter)) {
      std::vector<std::string> names;
      for (const auto& s : spec.steps) names.push_back(s.name);
      error("/reenter", ": reenter names no step of this pipeline: '" + rule.reenter + "'" +
                            did_you_mean(rule.reenter, names));
    }
  } else if (reenter.is_object()) {
    for (const auto& [k, _] : reenter.items())
      if (k != "pipeline" && k != "step")
        error("/reenter/" + k, ": unknown key '" + k + "' in reenter (pipeline, step)");
    if (!reenter.contains("step") || !reenter["step"].is_string()) {
      error("/reenter", ": reenter needs `step` (the step to run again)");
    } else {
      rule.reenter = reenter["step"].get<std::string>();
    }
    if (reenter.contains("pipeline") && !reenter["pipeline"].is_string())
      error("/reenter/pipeline", ": reenter.pipeline must be a pipeline file path");
    else if (reenter.contains("pipeline"))
      rule.pipeline = reenter["pipeline"].get<std::string>();
    const PipelineSpec* target = &spec;
    std::optional<LoadResult> other;
    if (!rule.pipeline.empty()) {
      rule.pipeline_path = fs::path(rule.pipeline).is_absolute()
                               ? fs::path(rule.pipeline)
                               : fs::path(spec.file).parent_path() / rule.pipeline;
      std::error_code ec;
      if (!fs::is_regular_file(rule.pipeline_path, ec)) {
        error("/reenter/pipeline", ": reenter.pipeline '" + rule.pipeline + "' not found (" +
                                       rule.pipeline_path.string() +
                                       "; the path is relative to this pipeline's file)");
        target = nullptr;
      } else {
        other = load_pipeline_file(rule.pipeline_path, {}, /*require_params=*/false);
        if (!other->ok() || !other->spec) {
          std::string first;
          for (const auto& d : other->diagnostics)
            if (!d.warning && first.empty()) first = d.str();
          error("/reenter/pipeline",
                ": reenter.pipeline '" + rule.pipeline + "' does not load: " + first);
          target = nullptr;
        } else {
          target = &*other->spec;
        }
      }
    }
    if (target && !rule.reenter.empty() && !target->find_step(rule.reenter)) {
      std::vector<std::string> names;
      for (const auto& s : target->steps) names.push_back(s.name);
      error("/reenter/step", ": reenter.step '" + rule.reenter + "' is not a step of " +
                                 (rule.pipeline.empty()
                                      ? std::string("this pipeline")
                                      : "pipeline '" + target->name + "' (" + rule.pipeline + ")") +
                                 did_you_mean(rule.reenter, names));
    }
  } else {
    error("/reenter",
          ": `reenter` (the step to run again, or {pipeline: FILE, step: STEP}) is required");
  }
}

// `with: {INPUT: ${{ steps.S.outputs.O }}}`: each an output of a step of this pipeline.
void parse_with(const nlohmann::json& r, const PipelineSpec& spec, FeedbackRule& rule,
                const RuleError& error) {
  if (r.contains("with")) {
    if (!r["with"].is_object())
      error("/with", ": `with` must map input names to references");
    else
      rule.with = r["with"];
    for (const auto& [name, v] : rule.with.items()) {
      const std::string sub = "/with/" + name;
      if (!v.is_string()) {
        error(sub, ": with." + name + " must be a ${{ steps.S.outputs.O }} reference");
        continue;
      }
      auto spans = find_templates(v.get<std::string>());
      if (!spans || spans->size() != 1) {
        error(sub, ": with." + name + " must be one ${{ steps.S.outputs.O }} reference");
        continue;
      }
      auto refs = expression_refs(spans->front().expr);
      if (!refs || refs->size() != 1 || refs->front().size() < 4 || refs->front()[0] != "steps" ||
          refs->front()[2] != "outputs" || !spec.find_step(refs->front()[1]))
        error(sub, ": with." + name + " must reference an output of a step of this pipeline");
    }
  }
}

}  // namespace

std::vector<FeedbackRule> parse_feedback(const PipelineSpec& spec, std::vector<Diagnostic>* diags) {
  std::vector<FeedbackRule> rules;
  if (spec.feedback.is_null()) return rules;
  const auto& positions = spec.feedback_value_pos;
  auto at = [&](const std::string& ptr) {
    // The closest enclosing node that has a position.
    for (std::string p = ptr;; p = p.substr(0, p.rfind('/'))) {
      if (auto it = positions.find(p); it != positions.end() && it->second.line > 0)
        return it->second;
      if (p.empty()) return spec.feedback_pos;
    }
  };
  auto error_at = [&](const std::string& ptr, const std::string& msg) {
    if (diags) diags->push_back({spec.file, at(ptr), "feedback: " + msg, false});
  };
  const nlohmann::json list =
      spec.feedback.is_array() ? spec.feedback : nlohmann::json::array({spec.feedback});
  for (size_t i = 0; i < list.size(); ++i) {
    const auto& r = list[i];
    const std::string ptr = "/" + std::to_string(i);
    const std::string where = "rule " + std::to_string(i + 1);
    auto error = [&](const std::string& sub, const std::string& msg) {
      error_at(ptr + sub, where + msg);
    };
    if (!r.is_object()) {
      error("", " must be a map with `on` and `reenter`");
      continue;
    }
    FeedbackRule rule;
    if (!r.contains("on") || !r["on"].is_string())
      error("/on", ": `on` (a trigger kind such as drift) is required");
    else
      rule.on = r["on"].get<std::string>();
    parse_reenter(r.contains("reenter") ? r["reenter"] : nlohmann::json(), spec, rule, error);
    parse_with(r, spec, rule, error);
    if (r.contains("max_cycles")) {
      if (!r["max_cycles"].is_number_integer() || r["max_cycles"].get<int>() < 1)
        error("/max_cycles", ": max_cycles must be a positive integer");
      else
        rule.max_cycles = r["max_cycles"].get<int>();
    }
    if (r.contains("cooldown")) {
      auto d = r["cooldown"].is_string() ? parse_duration(r["cooldown"].get<std::string>())
                                         : std::optional<double>{};
      if (!d)
        error("/cooldown", ": cooldown must be a duration such as 10m");
      else
        rule.cooldown_s = *d;
    }
    for (const auto& [k, _] : r.items())
      if (k != "on" && k != "reenter" && k != "with" && k != "max_cycles" && k != "cooldown")
        error("/" + k, ": unknown key '" + k + "' (on, reenter, with, max_cycles, cooldown)");
    rules.push_back(std::move(rule));
  }
  return rules;
}

}  // namespace llmops::engine
