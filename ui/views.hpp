// The JSON shapes of runs, executions and artifacts, shared by the CLI's --json output
// (`llmops runs`, `show`) and the web UI's API, so a script sees the same objects in both.
#pragma once

#include <nlohmann/json.hpp>

#include "store/store.hpp"

namespace llmops::views {

// A unix time as JSON: null when unset (0).
nlohmann::json time_or_null(double t);
// `j` as compact text; bytes that are not UTF-8 are replaced rather than thrown at.
std::string dump(const nlohmann::json& j);

// `text` as JSON, or `fallback` when it is not JSON (a hand-edited row, another tool's output):
// a discarded value must never reach a response (it prints as `<discarded>`).
nlohmann::json parse_or(const std::string& text, nlohmann::json fallback);

// Where an attempt ran as its executor last reported it (`{}` when it never did).
nlohmann::json placement_json(const store::ExecutionInfo& e);
nlohmann::json run_json(const store::RunInfo& r);
// Who executes a run that is not finished: {"pid", "host", "alive", "heartbeat_at"}, or null
// when nobody does (its engine died, or it never started).
nlohmann::json engine_json(store::Store& st, const store::RunInfo& r);
nlohmann::json artifact_json(const store::Artifact& a);
// One execution of `show --json`: its outputs and inputs by role, its metrics as series by name.
nlohmann::json execution_json(const store::Store::ExecutionDetail& d);
// What `llmops lineage REF` starts from: an artifact digest (or a unique prefix), a run id,
// RUN:STEP, or deployment:NAME (the model it serves).
Result<std::vector<std::string>> resolve_lineage_ref(store::Store& st, const std::string& ref);

}  // namespace llmops::views
