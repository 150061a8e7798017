// Pipeline validation: everything that needs the plugin catalog or the whole graph.
//
// validate_pipeline() checks a loaded PipelineSpec against the known plugins: unknown plugins and
// unsatisfied version constraints, `with:` against each plugin's parameter schema (a subset of
// JSON Schema: type, properties, required, additionalProperties, enum, minimum, maximum,
// exclusiveMinimum, exclusiveMaximum, items), `inputs:` against declared plugin inputs (names,
// required ones, artifact kinds), unknown steps in `needs`, template references to unknown
// params/steps/outputs, expressions that do not parse, and cycles (naming the cycle).
// Every problem is reported; diagnostics carry FILE:LINE:COL. Stateless; thread-safe if the
// catalog is.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "engine/plugins/plugin_info.hpp"
#include "engine/spec/loader.hpp"
#include "engine/spec/pipeline.hpp"

namespace llmops::engine {

// The fields of `run.` that templates may use (the scheduler's Scope must provide them).
inline const std::vector<std::string> kRunFields = {"id", "cycle"};

std::vector<Diagnostic> validate_pipeline(const PipelineSpec& spec, const PluginCatalog& catalog);

// Problems with `ref`, a `deployments.` reference in template `t` of `step` (whose plugin is
// `plugin`, null when unknown): `${{ deployments.NAME.model }}` (also `.deployment` and
// `.model_inputs.ROLE`) must be the whole value of an optional input of a matching kind.
std::vector<Diagnostic> check_deployments_ref(const PipelineSpec& spec, const StepSpec& step,
                                              const TemplateRef& t,
                                              const std::vector<std::string>& ref,
                                              const PluginInfo* plugin);

}  // namespace llmops::engine
