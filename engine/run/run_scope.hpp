// RunScope: what `${{ ... }}` templates and `when:` expressions can see during a run.
//
// params.NAME, env.NAME, run.id, run.cycle, steps.S.outputs.O (the artifact's path; deeper fields
// come from the artifact's metadata, then from its JSON content), steps.S.metrics.M (last value)
// and steps.S.state. Filled by the Runner as steps finish. Not thread-safe: the Runner's thread.
#pragma once

#include <map>
#include <string>

#include "engine/spec/template.hpp"
#include "store/store.hpp"

namespace llmops::engine {

struct StepOutcomeView {
  store::State state = store::State::kPending;
  std::map<std::string, store::Artifact> outputs;
  std::map<std::string, double> metrics;
};

class RunScope : public Scope {
 public:
  RunScope(nlohmann::json params, int64_t run_id, int cycle)
      : params_(std::move(params)), run_id_(run_id), cycle_(cycle) {}

  std::optional<nlohmann::json> lookup(const std::vector<std::string>& path) const override;

  StepOutcomeView& step(const std::string& name) { return steps_[name]; }
  const StepOutcomeView* find_step(const std::string& name) const;

 private:
  nlohmann::json params_;
  int64_t run_id_;
  int cycle_;
  std::map<std::string, StepOutcomeView> steps_;
};

// Reads field `path` of an artifact: its metadata first, then a JSON file (or the only .json file
// of a folder) inside it.
std::optional<nlohmann::json> artifact_field(const store::Artifact& a,
                                             const std::vector<std::string>& path);

}  // namespace llmops::engine
