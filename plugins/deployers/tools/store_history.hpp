// The store side of `llmops deployments`: what the tool does to a deployment by hand (rollback,
// stop) goes into the store's `deployments` row and its append-only `deployment_history`, next to
// the changes pipeline steps made (recorded by the engine from the deployer's output), so the
// store answers "who changed what is served, when, from which version to which".
//
// This is a command beside its plugin, like the `llmops` CLI it extends: it links the store
// library (plugins themselves never do). Thread safety: free functions, each opens the store.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "llmops/status.hpp"

namespace llmops::deployments {

// Records one change made by `actor` (e.g. "cli:rollback") in $LLMOPS_HOME's store: `before` and
// `after` are the deployment's state files around the change. The row's info_json holds actor,
// user, from_version, to_version, from_digest, to_digest, endpoint, pid, plus `extra`.
Status record_change(const std::string& action, const std::string& actor,
                     const nlohmann::json& before, const nlohmann::json& after,
                     const nlohmann::json& extra = nlohmann::json::object());

// The store's view of deployment `name`: {"state", "endpoint", "artifact_digest", "run_id",
// "updated_at", "history": [{"time", "action", "actor", "user", "from_version", "to_version",
// "state", "artifact_digest", "run_id", "info"}]}; null when the store has no such deployment
// (or no database yet: reading never creates one).
Result<nlohmann::json> store_view(const std::string& name);

// One history entry as a line of `llmops deployments show`.
std::string history_line(const nlohmann::json& entry);

}  // namespace llmops::deployments
