// Validation of `${{ deployments.NAME.model }}` references (see engine/spec/validator.hpp).
#include <algorithm>

#include "engine/spec/template.hpp"
#include "engine/spec/validator.hpp"

namespace llmops::engine {

// Resolved from the store when the run starts and absent when there is no such deployment, so
// the reference must be a whole `inputs:` value, and the input an optional one.
std::vector<Diagnostic> check_deployments_ref(const PipelineSpec& spec, const StepSpec& step,
                                              const TemplateRef& t,
                                              const std::vector<std::string>& ref,
                                              const PluginInfo* plugin) {
  std::vector<Diagnostic> out;
  auto error = [&](const std::string& msg) { out.push_back({spec.file, t.pos, msg, false}); };
  const std::string text = join_ref(ref);
  const std::string prefix = "steps." + step.name + ".inputs.";
  const std::string forms =
      "deployments.NAME.model, deployments.NAME.deployment or deployments.NAME.model_inputs.ROLE";
  if (t.where.rfind(prefix, 0) != 0) {
    error("'" + text + "' in " + t.where +
          ": a deployments reference may only be the whole value of an input (" + forms + ")");
    return out;
  }
  const std::string input = t.where.substr(prefix.size());
  auto it = step.inputs.find(input);
  bool whole = false;
  if (it != step.inputs.end()) {
    auto spans = find_templates(it->second);
    whole = spans && spans->size() == 1 && (*spans)[0].begin == 0 &&
            (*spans)[0].end == it->second.size() && (*spans)[0].expr == text;
  }
  if (!whole) {
    error("'" + text + "' in " + t.where +
          ": a deployments reference must be the whole value of the input");
    return out;
  }
  const bool well_formed = (ref.size() == 3 && (ref[2] == "model" || ref[2] == "deployment")) ||
                           (ref.size() == 4 && ref[2] == "model_inputs");
  if (!well_formed) {
    error("unknown deployments reference '" + text + "' in " + t.where + "; write " + forms);
    return out;
  }
  if (!plugin || plugin->inputs.empty()) return out;
  auto port = std::find_if(plugin->inputs.begin(), plugin->inputs.end(),
                           [&](const PortSpec& p) { return p.name == input; });
  if (port == plugin->inputs.end()) return out;  // check_inputs reports unknown inputs
  if (port->required)
    error("input '" + input + "' of step '" + step.name + "' is required by " + plugin->id +
          ", but '" + text +
          "' is absent while there is no such deployment; use deployments references for "
          "optional inputs only");
  const std::string kind = ref[2] == "model" ? "model" : ref[2] == "deployment" ? "deployment" : "";
  if (!kind.empty() && port->kind != kind && port->kind != "any")
    error("input '" + input + "' of step '" + step.name + "' expects kind '" + port->kind +
          "' but " + text + " is of kind '" + kind + "'");
  return out;
}

}  // namespace llmops::engine
