#include "engine/run/step_prep.hpp"

#include "base/hash.hpp"
#include "base/strings.hpp"
#include "engine/spec/template.hpp"
#include "llmops/artifacts.hpp"

namespace fs = std::filesystem;

namespace llmops::engine {

namespace {

std::vector<std::string> split_dots(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const auto dot = s.find('.', start);
    out.push_back(s.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return out;
}

// The canary share recorded with a deployment change (0 when none).
int canary_percent(const std::string& info_json) {
  auto j = nlohmann::json::parse(info_json, nullptr, false);
  return j.is_object() && j.contains(deployment::kCanaryPercent) &&
                 j[deployment::kCanaryPercent].is_number()
             ? j[deployment::kCanaryPercent].get<int>()
             : 0;
}

}  // namespace

StepPrep::StepPrep(store::Store& store, PluginCatalog& catalog, RunScope& scope, bool no_cache)
    : store_(store), catalog_(catalog), scope_(scope), no_cache_(no_cache) {
  // Snapshot what each deployment serves now, so every step of the run sees the same baseline
  // even when a later step of the run deploys a new version.
  auto deps = store_.list_deployments();
  if (!deps) {
    deployments_status_ = deps.status();
    return;
  }
  for (const auto& d : deps.value()) {
    auto hist = store_.deployment_history(d.name);
    if (!hist) {
      deployments_status_ = hist.status();
      return;
    }
    // The newest change that is not a canary: a canary shares traffic with the version before it,
    // which is still the one deployed.
    for (auto it = hist->rbegin(); it != hist->rend(); ++it) {
      if (it->action == deployment::kStop || it->state == "stopped") break;
      const int canary = canary_percent(it->info_json);
      if (canary > 0 && canary < 100) continue;
      if (!it->artifact_digest.empty())
        deployments_[d.name] = {it->artifact_digest, it->run_id, it->execution_id};
      break;
    }
  }
}

Result<std::optional<store::Artifact>> StepPrep::resolve_deployment(
    const std::vector<std::string>& ref) {
  using Found = std::optional<store::Artifact>;
  const std::string what = join_ref(ref);
  const bool well_formed = (ref.size() == 3 && (ref[2] == "model" || ref[2] == "deployment")) ||
                           (ref.size() == 4 && ref[2] == "model_inputs");
  if (!well_formed)
    return Status::invalid(what +
                           ": write deployments.NAME.model, deployments.NAME.deployment or " +
                           "deployments.NAME.model_inputs.ROLE");
  if (!deployments_status_) return deployments_status_;
  auto it = deployments_.find(ref[1]);
  if (it == deployments_.end()) return Found{};
  const ActiveDeployment& d = it->second;
  auto usable = [&](const store::Artifact& a) -> Result<Found> {
    std::error_code ec;
    if (!fs::exists(a.uri, ec))
      return Status::not_found(what + ": artifact " + a.digest + " is missing from the blob store");
    return Found{a};
  };
  if (ref[2] == "model") {
    auto arts = store_.find_artifacts(d.model_digest);
    if (!arts) return arts.status();
    for (const auto& a : arts.value())
      if (a.digest == d.model_digest) return usable(a);
    return Found{};
  }
  if (ref[2] == "deployment") {
    if (!d.execution_id) return Found{};
    auto outs = store_.execution_events(*d.execution_id, true);
    if (!outs) return outs.status();
    for (const auto& ev : outs.value())
      if (ev.artifact.kind == artifact_kind::kDeployment) return usable(ev.artifact);
    return Found{};
  }
  // model_inputs.ROLE: the input of the execution (in the deploying run) that made the model.
  if (!d.run_id) return Found{};
  auto execs = store_.list_executions(*d.run_id);
  if (!execs) return execs.status();
  for (const auto& e : execs.value()) {
    if (!is_success(e.state)) continue;
    auto outs = store_.execution_events(e.id, true);
    if (!outs) return outs.status();
    bool made = false;
    for (const auto& ev : outs.value()) made = made || ev.artifact.digest == d.model_digest;
    if (!made) continue;
    auto ins = store_.execution_events(e.id, false);
    if (!ins) return ins.status();
    for (const auto& ev : ins.value())
      if (ev.role == ref[3]) return usable(ev.artifact);
  }
  return Found{};
}

std::string compute_cache_key(const PluginInfo& plugin, const std::string& plugin_digest,
                              const nlohmann::json& params,
                              const std::vector<store::Event>& inputs) {
  // nlohmann::json objects are ordered maps, so dump() is canonical (sorted keys, no spaces).
  nlohmann::json key = {{"v", 1},
                        {"plugin", plugin.id},
                        {"version", plugin.version},
                        {"library", plugin_digest},
                        {"params", params},
                        {"inputs", nlohmann::json::object()}};
  for (const auto& in : inputs) key["inputs"][in.role] = in.artifact.digest;
  return "sha256:" + base::sha256_hex(key.dump());
}

namespace {

Status record_replaced(store::Store& store, const store::SealedBlob& sealed,
                       std::optional<int64_t> run_id, const std::string& step) {
  if (sealed.replaced_problem.empty()) return Status::ok();
  store::BlobIncident in;
  in.digest = sealed.digest;
  in.problem = sealed.replaced_problem;
  in.action = "quarantined; replaced by the same content made again";
  in.quarantined_to = sealed.replaced_to.string();
  in.run_id = run_id;
  in.step = step;
  return store.record_blob_incident(in);
}

}  // namespace

Result<std::string> guard_artifact(store::Store& store, const store::Artifact& artifact,
                                   std::optional<int64_t> run_id, const std::string& step,
                                   const std::string& action) {
  store::BlobCheck c = store.blobs().check(artifact.digest, artifact.size);
  if (c.ok) return std::string();
  store::BlobIncident in;
  in.digest = artifact.digest;
  in.problem = c.problem;
  in.action = action;
  in.run_id = run_id;
  in.step = step;
  std::string what = c.problem;
  if (c.problem != "missing") {
    auto moved = store.blobs().quarantine(artifact.digest);
    if (moved) {
      in.quarantined_to = moved->string();
      in.action = "quarantined to " + in.quarantined_to + "; " + action;
      what += " (moved to " + in.quarantined_to + ")";
    }
  }
  if (Status s = store.record_blob_incident(in); !s.is_ok()) return s;
  return what;
}

Result<std::vector<store::Event>> seal_outputs(store::Store& store, int64_t run_id,
                                               const std::vector<OutputDecl>& outputs) {
  std::vector<store::Event> events;
  for (const auto& o : outputs) {
    auto sealed = store.blobs().seal(o.path, true);
    if (!sealed)
      return Status::internal("sealing output " + o.name + ": " + sealed.status().message());
    if (Status s = record_replaced(store, sealed.value(), run_id, ""); !s.is_ok()) return s;
    store::Event ev;
    ev.role = o.name;
    ev.artifact.digest = sealed->digest;
    ev.artifact.kind = o.kind;
    ev.artifact.name = o.name;
    ev.artifact.uri = sealed->path.string();
    ev.artifact.size = sealed->size;
    ev.artifact.metadata_json = o.metadata_json.empty() ? "{}" : o.metadata_json;
    events.push_back(std::move(ev));
  }
  return events;
}

Result<Prepared> StepPrep::prepare(const StepSpec& step, const PluginInfo& plugin,
                                   StepRequest& request, const std::vector<store::Event>* extra,
                                   bool lookup_cache) {
  Prepared out;
  auto params = render_json(step.with, scope_);
  if (!params) return Status::invalid("with: " + params.status().message());
  request.params = std::move(params.value());

  for (const auto& [name, text] : step.inputs) {
    store::Event ev;
    ev.role = name;
    auto spans = find_templates(text);
    if (!spans) return Status::invalid("inputs." + name + ": " + spans.status().message());
    const auto& sp = spans.value();
    if (sp.size() == 1 && sp[0].begin == 0 && sp[0].end == text.size()) {
      const auto parts = split_dots(base::trim(sp[0].expr));
      if (!parts.empty() && parts[0] == "deployments") {
        auto found = resolve_deployment(parts);
        if (!found)
          return Status(found.status().code(), "inputs." + name + ": " + found.status().message());
        if (!found.value()) continue;  // no such deployment (yet): the input is absent
        ev.artifact = *found.value();
        auto bad = guard_artifact(store_, ev.artifact, request.run_id, step.name,
                                  "the step failed; deploy the model again");
        if (!bad) return bad.status();
        if (!bad->empty())
          return Status::precondition("inputs." + name + ": artifact " + ev.artifact.digest +
                                      " of deployment " + parts[1] + " is damaged: " + *bad +
                                      ". Run the pipeline that deploys it again");
        request.inputs.push_back({name, ev.artifact.uri, ev.artifact.digest, ev.artifact.kind,
                                  ev.artifact.metadata_json});
        out.input_events.push_back(std::move(ev));
        continue;
      }
      if (parts.size() == 4 && parts[0] == "steps" && parts[2] == "outputs") {
        const auto* up = scope_.find_step(parts[1]);
        auto it = up ? up->outputs.find(parts[3]) : decltype(up->outputs.end()){};
        if (!up || it == up->outputs.end())
          return Status::invalid("inputs." + name + ": step " + parts[1] + " has no output '" +
                                 parts[3] + "'");
        ev.artifact = it->second;
        auto bad = guard_artifact(store_, ev.artifact, request.run_id, step.name,
                                  "the step failed; `llmops resume` runs " + parts[1] + " again");
        if (!bad) return bad.status();
        if (!bad->empty())
          return Status::precondition(
              "inputs." + name + ": output '" + parts[3] + "' of step " + parts[1] + " (" +
              ev.artifact.digest + ") is damaged: " + *bad + ". `llmops resume " +
              std::to_string(request.run_id) + "` runs " + parts[1] + " again");
        request.inputs.push_back({name, ev.artifact.uri, ev.artifact.digest, ev.artifact.kind,
                                  ev.artifact.metadata_json});
        out.input_events.push_back(std::move(ev));
        continue;
      }
    }
    // A literal path (possibly templated): seal a copy so lineage reaches the raw data.
    auto rendered = render_string(text, scope_);
    if (!rendered) return Status::invalid("inputs." + name + ": " + rendered.status().message());
    const std::string path =
        rendered->is_string() ? rendered->get<std::string>() : rendered->dump();
    std::error_code ec;
    if (!fs::exists(path, ec))
      return Status::not_found("inputs." + name + ": " + path + " does not exist");
    auto sealed = store_.blobs().seal(path, false);
    if (!sealed) return Status::internal("inputs." + name + ": " + sealed.status().message());
    if (Status s = record_replaced(store_, sealed.value(), request.run_id, step.name); !s.is_ok())
      return s;
    ev.artifact.digest = sealed->digest;
    ev.artifact.kind = sealed->is_dir ? "directory" : "file";
    ev.artifact.name = fs::path(path).filename().string();
    ev.artifact.uri = sealed->path.string();
    ev.artifact.size = sealed->size;
    ev.artifact.metadata_json = nlohmann::json{{"source", fs::absolute(path).string()}}.dump();
    request.inputs.push_back(
        {name, ev.artifact.uri, ev.artifact.digest, ev.artifact.kind, ev.artifact.metadata_json});
    out.input_events.push_back(std::move(ev));
  }

  if (extra)
    for (const auto& ev : *extra) {
      auto bad = guard_artifact(store_, ev.artifact, request.run_id, step.name, "the step failed");
      if (!bad) return bad.status();
      if (!bad->empty())
        return Status::precondition("input " + ev.role + " (" + ev.artifact.digest +
                                    ", from the run that fed back) is damaged: " + *bad);
      request.inputs.push_back({ev.role, ev.artifact.uri, ev.artifact.digest, ev.artifact.kind,
                                ev.artifact.metadata_json});
      out.input_events.push_back(ev);
    }
  out.plugin_digest = catalog_.library_digest(plugin);
  // A plugin whose descriptor says so (deployers act on the world, monitors observe one that
  // changes) always runs, whatever the cache settings say.
  if (!step.cache || no_cache_ || !plugin.cacheable || !lookup_cache) return out;
  out.cache_key = compute_cache_key(plugin, out.plugin_digest, request.params, out.input_events);
  auto hit = store_.find_cached(out.cache_key);
  if (!hit || !hit.value()) return out;
  auto outs = store_.execution_events(hit.value()->id, true);
  auto mets = store_.execution_metrics(hit.value()->id);
  if (!outs || !mets) return out;
  // A cached result whose outputs are missing or damaged is not reused: the step runs again
  // and its outputs replace them.
  for (const auto& ev : outs.value()) {
    auto bad = guard_artifact(store_, ev.artifact, request.run_id, step.name,
                              "the cached result is not reused; the step runs again");
    if (!bad) return bad.status();
    if (!bad->empty()) return out;
  }
  store::ExecutionResult er;
  er.state = store::State::kCached;
  er.inputs = out.input_events;
  er.outputs = outs.value();
  er.metrics = mets.value();
  auto rec = store_.record_cached(request.run_id, step.name, plugin.id, plugin.version,
                                  out.plugin_digest, out.cache_key, er);
  if (!rec) return rec.status();
  auto& view = scope_.step(step.name);
  for (const auto& ev : er.outputs) view.outputs[ev.role] = ev.artifact;
  for (const auto& m : er.metrics) view.metrics[m.name] = m.value;
  out.cached = true;
  return out;
}

}  // namespace llmops::engine
