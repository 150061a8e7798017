// StepPrep: turns a planned step into a ready StepRequest, and finds cache hits.
//
// Renders the step's `with:` templates, resolves its `inputs:` to artifacts (or literal paths),
// computes the cache key (sha256 of the canonical JSON of plugin id, version and library digest,
// resolved params and input digests) and, on a verified hit, records a `cached` execution.
// Also seals finished outputs into the blob store. Every artifact handed to a step is checked
// first (guard_artifact below). Used from the Runner's thread only.
//
// An input that is exactly `${{ deployments.NAME.model }}` is the model of the active version of
// deployment NAME (`.deployment`: the deployer's `deployment` artifact; `.model_inputs.ROLE`: the
// input ROLE of the step that made that model, e.g. its training data), read from the store's
// deployments table as it was when the StepPrep was made (the run's start, or its resumption).
// Without such a deployment the input is absent (the validator allows it for optional inputs).
#pragma once

#include "engine/exec/executor.hpp"
#include "engine/run/run_scope.hpp"
#include "engine/spec/pipeline.hpp"
#include "store/store.hpp"

namespace llmops::engine {

struct Prepared {
  bool cached = false;
  std::string cache_key;  // empty when caching is off for the step
  std::string plugin_digest;
  std::vector<store::Event> input_events;
};

class StepPrep {
 public:
  StepPrep(store::Store& store, PluginCatalog& catalog, RunScope& scope, bool no_cache);

  // Fills request.params and request.inputs. On a cache hit records the cached execution and
  // fills the scope with its outputs and metrics.
  // `extra`: inputs beyond the step's own (feedback re-entry), appended to them.
  // `lookup_cache` false: no cache lookup (an attempt being reattached already runs).
  Result<Prepared> prepare(const StepSpec& step, const PluginInfo& plugin, StepRequest& request,
                           const std::vector<store::Event>* extra = nullptr,
                           bool lookup_cache = true);

 private:
  // What a deployment serves: its active (not canary) history entry at the snapshot.
  struct ActiveDeployment {
    std::string model_digest;
    std::optional<int64_t> run_id, execution_id;
  };
  // nullopt: no such deployment (or it serves nothing the store knows).
  Result<std::optional<store::Artifact>> resolve_deployment(const std::vector<std::string>& ref);

  store::Store& store_;
  PluginCatalog& catalog_;
  RunScope& scope_;
  bool no_cache_;
  std::map<std::string, ActiveDeployment> deployments_;
  Status deployments_status_ = Status::ok();
};

std::string compute_cache_key(const PluginInfo& plugin, const std::string& plugin_digest,
                              const nlohmann::json& params,
                              const std::vector<store::Event>& inputs);

// Seals each declared output folder; returns the output events. A stale copy found damaged under
// an output's digest is replaced, and the incident recorded against `run_id`.
Result<std::vector<store::Event>> seal_outputs(store::Store& store, int64_t run_id,
                                               const std::vector<OutputDecl>& outputs);

// Blobs are verified before use (store::BlobStore::check): an artifact about to be handed to a
// step, adopted by a resume or reused from the cache. A damaged or missing one is moved to
// quarantine and the incident recorded (with `run_id`, `step` and what happens next: `action`).
// Returns "" when the artifact is good, else what is wrong with it; an error when the incident
// cannot be recorded.
Result<std::string> guard_artifact(store::Store& store, const store::Artifact& artifact,
                                   std::optional<int64_t> run_id, const std::string& step,
                                   const std::string& action);

}  // namespace llmops::engine
