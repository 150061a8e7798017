// The JSON shapes shared by the CLI and the web UI: see views.hpp.
#include "ui/views.hpp"

#include <map>

#include "base/time.hpp"
#include "engine/run/run_lease.hpp"

namespace llmops::views {

namespace {

bool all_digits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

Result<std::vector<std::string>> resolve_lineage_ref(store::Store& st, const std::string& ref) {
  std::vector<std::string> out;
  if (ref.rfind("deployment:", 0) == 0) {
    const std::string name = ref.substr(11);
    auto deps = st.list_deployments();
    if (!deps) return deps.status();
    for (const auto& d : deps.value())
      if (d.name == name && !d.artifact_digest.empty()) return std::vector{d.artifact_digest};
    return Status::not_found("no deployment '" + name +
                             "' with a model (see: llmops deployments list)");
  }
  const auto colon = ref.find(':');
  const bool run_step = colon != std::string::npos && all_digits(ref.substr(0, colon));
  if (run_step || all_digits(ref)) {
    if ((run_step ? colon : ref.size()) > 18) return Status::not_found("no run " + ref);
    const int64_t run = std::stoll(run_step ? ref.substr(0, colon) : ref);
    const std::string step = run_step ? ref.substr(colon + 1) : "";
    auto execs = st.list_executions(run);
    if (!execs) return execs.status();
    if (execs->empty())
      return Status::not_found("run " + std::to_string(run) + " has no executions");
    std::map<std::string, int64_t> last_good;  // step -> execution
    for (const auto& e : execs.value())
      if (is_success(e.state) && (step.empty() || e.step == step)) last_good[e.step] = e.id;
    if (last_good.empty())
      return Status::not_found(step.empty() ? "run " + std::to_string(run) + " produced nothing"
                                            : "step '" + step + "' of run " + std::to_string(run) +
                                                  " has no finished execution");
    for (const auto& [_, id] : last_good)
      if (auto evs = st.execution_events(id, true))
        for (const auto& ev : evs.value()) out.push_back(ev.artifact.digest);
    if (out.empty()) return Status::not_found("no artifacts for " + ref);
    return out;
  }
  auto found = st.find_artifacts(ref);
  if (!found) return found.status();
  if (found->empty())
    return Status::not_found("no artifact matches '" + ref + "' (see: llmops artifacts)");
  if (found->size() > 1) {
    std::string msg = "'" + ref + "' matches " + std::to_string(found->size()) + " artifacts:";
    for (const auto& a : found.value()) msg += " " + a.digest.substr(0, 19);
    return Status::invalid(msg + "; give more of the digest");
  }
  out.push_back(found->front().digest);
  return out;
}

nlohmann::json time_or_null(double t) {
  return t > 0 ? nlohmann::json(t) : nlohmann::json();
}

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json parse_or(const std::string& text, nlohmann::json fallback) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

nlohmann::json placement_json(const store::ExecutionInfo& e) {
  auto p = nlohmann::json::parse(e.placement_json, nullptr, false);
  return p.is_object() ? p : nlohmann::json::object();
}

nlohmann::json run_json(const store::RunInfo& r) {
  return {{"id", r.id},
          {"pipeline", r.pipeline},
          {"file", r.pipeline_file},
          {"state", store::to_string(r.state)},
          {"trigger", r.trigger},
          {"parent_run", r.parent_run ? nlohmann::json(*r.parent_run) : nlohmann::json()},
          {"cycle", r.cycle},
          {"trigger_info", parse_or(r.trigger_info_json.empty() ? "{}" : r.trigger_info_json,
                                    nlohmann::json::object())},
          {"error", r.error},
          {"params", parse_or(r.params_json, nlohmann::json::object())},
          {"created_at", r.created_at},
          {"started_at", r.started_at},
          {"ended_at", r.ended_at}};
}

nlohmann::json engine_json(store::Store& st, const store::RunInfo& r) {
  if (r.state != store::State::kRunning && r.state != store::State::kPending) return nullptr;
  auto owner = st.run_owner(r.id);
  if (!owner || !owner.value()) return nullptr;
  const auto& o = *owner.value();
  const bool alive = engine::owner_alive(o, engine::LeaseOptions{}, base::unix_now());
  return {{"pid", o.pid}, {"host", o.host}, {"alive", alive}, {"heartbeat_at", o.heartbeat_at}};
}

nlohmann::json artifact_json(const store::Artifact& a) {
  return {{"digest", a.digest},
          {"kind", a.kind},
          {"name", a.name},
          {"uri", a.uri},
          {"size", a.size},
          {"metadata", parse_or(a.metadata_json, nlohmann::json::object())},
          {"created_at", a.created_at}};
}

nlohmann::json execution_json(const store::Store::ExecutionDetail& d) {
  const auto& e = d.info;
  nlohmann::json ej = {{"id", e.id},
                       {"attempt", e.attempt},
                       {"state", store::to_string(e.state)},
                       {"plugin", e.plugin_id + "@" + e.plugin_version},
                       {"cache_key", e.cache_key},
                       {"error", e.error},
                       {"started_at", e.started_at},
                       {"ended_at", e.ended_at},
                       {"external_id", e.external_id},
                       {"outputs", nlohmann::json::object()},
                       {"inputs", nlohmann::json::object()},
                       {"metrics", nlohmann::json::object()}};
  if (auto p = placement_json(e); p.value("executor", "") == "slurm") ej["slurm"] = p;
  for (const auto& ev : d.outputs) ej["outputs"][ev.role] = artifact_json(ev.artifact);
  for (const auto& ev : d.inputs) ej["inputs"][ev.role] = artifact_json(ev.artifact);
  for (const auto& m : d.metrics) {
    auto& series = ej["metrics"][m.name];
    if (series.is_null()) series = nlohmann::json::array();
    series.push_back({{"value", m.value}, {"step", m.step}, {"time", m.time}});
  }
  return ej;
}

}  // namespace llmops::views
