// `llmops runs | show | logs | artifacts | plugins`: read-only views of the store and plugins.
#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <string_view>

#include "cli/commands.hpp"
#include "engine/run/runner.hpp"

namespace fs = std::filesystem;

namespace llmops::cli {

namespace {

std::string pad(std::string s, size_t n) {
  if (s.size() < n) s += std::string(n - s.size(), ' ');
  return s;
}

std::string short_digest(const std::string& d) {
  const auto colon = d.find(':');
  const auto hex = colon == std::string::npos ? d : d.substr(colon + 1);
  return hex.substr(0, 12);
}

// Spaces after a (painted) state, so the next column starts where the STATE header's does.
std::string state_gap(store::State s) {
  const size_t n = std::string_view(store::to_string(s)).size();
  return std::string(n < 11 ? 11 - n : 1, ' ');
}

nlohmann::json run_json(const store::RunInfo& r) {
  return {{"id", r.id},
          {"pipeline", r.pipeline},
          {"file", r.pipeline_file},
          {"state", store::to_string(r.state)},
          {"trigger", r.trigger},
          {"parent_run", r.parent_run ? nlohmann::json(*r.parent_run) : nlohmann::json()},
          {"cycle", r.cycle},
          {"trigger_info",
           nlohmann::json::parse(r.trigger_info_json.empty() ? "{}" : r.trigger_info_json, nullptr,
                                 false)},
          {"error", r.error},
          {"params", nlohmann::json::parse(r.params_json, nullptr, false)},
          {"created_at", r.created_at},
          {"started_at", r.started_at},
          {"ended_at", r.ended_at}};
}

nlohmann::json artifact_json(const store::Artifact& a) {
  return {{"digest", a.digest},
          {"kind", a.kind},
          {"name", a.name},
          {"uri", a.uri},
          {"size", a.size},
          {"metadata", nlohmann::json::parse(a.metadata_json, nullptr, false)},
          {"created_at", a.created_at}};
}

}  // namespace

int cmd_runs(const ListArgs& a) {
  auto st = open_store();
  if (!st) return kExitFailed;
  auto runs = st->list_runs(a.limit);
  if (!runs) return fail(runs.status().message(), kExitFailed);
  if (a.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : runs.value()) j.push_back(run_json(r));
    print_json(j);
    return kExitOk;
  }
  std::cout << paint(pad("RUN", 6) + pad("PIPELINE", 22) + pad("STATE", 11) + pad("TRIGGER", 15) +
                         pad("CYCLE", 6) + pad("STARTED", 21) + "DURATION",
                     "1")
            << "\n";
  for (const auto& r : runs.value()) {
    const double dur = r.ended_at > 0 && r.started_at > 0 ? r.ended_at - r.started_at : -1;
    std::string trig = r.trigger;
    if (r.parent_run) trig += " <- " + std::to_string(*r.parent_run);
    std::cout << pad(std::to_string(r.id), 6) << pad(r.pipeline, 22) << state_colour(r.state)
              << state_gap(r.state) << pad(trig, 15) << pad(std::to_string(r.cycle), 6)
              << pad(format_time(r.started_at), 21) << format_duration(dur) << "\n";
  }
  return kExitOk;
}

int cmd_show(const ShowArgs& a) {
  auto st = open_store();
  if (!st) return kExitFailed;
  auto run = st->get_run(a.run);
  if (!run) return fail(run.status().message());
  auto steps = st->list_steps(a.run);
  auto execs = st->list_executions(a.run);
  if (!steps || !execs) return fail("cannot read run " + std::to_string(a.run), kExitFailed);

  nlohmann::json j = run_json(run.value());
  j["steps"] = nlohmann::json::array();
  for (const auto& s : steps.value()) {
    nlohmann::json sj = {{"step", s.step},
                         {"state", store::to_string(s.state)},
                         {"reason", s.reason},
                         {"attempts", s.attempts},
                         {"started_at", s.started_at},
                         {"ended_at", s.ended_at},
                         {"executions", nlohmann::json::array()}};
    for (const auto& e : execs.value()) {
      if (e.step != s.step) continue;
      nlohmann::json ej = {{"id", e.id},
                           {"attempt", e.attempt},
                           {"state", store::to_string(e.state)},
                           {"plugin", e.plugin_id + "@" + e.plugin_version},
                           {"cache_key", e.cache_key},
                           {"error", e.error},
                           {"started_at", e.started_at},
                           {"ended_at", e.ended_at},
                           {"outputs", nlohmann::json::object()},
                           {"inputs", nlohmann::json::object()},
                           {"metrics", nlohmann::json::object()}};
      if (auto outs = st->execution_events(e.id, true))
        for (const auto& ev : outs.value()) ej["outputs"][ev.role] = artifact_json(ev.artifact);
      if (auto ins = st->execution_events(e.id, false))
        for (const auto& ev : ins.value()) ej["inputs"][ev.role] = artifact_json(ev.artifact);
      if (auto ms = st->execution_metrics(e.id))
        for (const auto& m : ms.value()) {
          auto& series = ej["metrics"][m.name];
          if (series.is_null()) series = nlohmann::json::array();
          series.push_back({{"value", m.value}, {"step", m.step}, {"time", m.time}});
        }
      sj["executions"].push_back(ej);
    }
    j["steps"].push_back(sj);
  }
  if (a.json) {
    print_json(j);
    return kExitOk;
  }
  const auto& r = run.value();
  std::cout << paint("run " + std::to_string(r.id), "1") << "  " << r.pipeline << "  "
            << state_colour(r.state) << "\n";
  std::cout << "  file     " << r.pipeline_file << "\n";
  std::cout << "  trigger  " << r.trigger;
  if (r.parent_run) std::cout << " (from run " << *r.parent_run << ", cycle " << r.cycle << ")";
  {
    auto info = nlohmann::json::parse(r.trigger_info_json, nullptr, false);
    if (info.is_object() && info.contains("kind"))
      std::cout << "\n  because  " << info.value("kind", "") << " raised by "
                << info.value("step", "?") << ": " << info.value("reason", "")
                << (info.contains("reenter") ? "; re-entered at " + info.value("reenter", "") : "");
  }
  std::cout << "\n  started  " << format_time(r.started_at) << "   ended "
            << format_time(r.ended_at);
  if (r.ended_at > 0 && r.started_at > 0)
    std::cout << "   (" << format_duration(r.ended_at - r.started_at) << ")";
  std::cout << "\n  params   " << r.params_json << "\n";
  if (!r.error.empty()) std::cout << "  error    " << r.error << "\n";
  std::cout << "\n";
  for (size_t k = 0; k < steps->size(); ++k) {
    const store::State state = (*steps)[k].state;
    const auto& sj = j["steps"][k];
    std::cout << "  " << pad(sj["step"].get<std::string>(), 20) << state_colour(state)
              << state_gap(state);
    const int attempts = sj["attempts"];
    if (attempts > 1) std::cout << attempts << " attempts ";
    if (sj["ended_at"].get<double>() > 0 && sj["started_at"].get<double>() > 0)
      std::cout << format_duration(sj["ended_at"].get<double>() - sj["started_at"].get<double>());
    if (!sj["reason"].get<std::string>().empty())
      std::cout << paint("  " + sj["reason"].get<std::string>(), "90");
    std::cout << "\n";
    if (sj["executions"].empty()) continue;
    const auto& last = sj["executions"].back();
    if (!last["error"].get<std::string>().empty() && state != store::State::kSucceeded)
      std::cout << "      error: " << last["error"].get<std::string>() << "\n";
    for (const auto& [role, art] : last["outputs"].items())
      std::cout << "      out  " << pad(role, 12) << short_digest(art["digest"]) << "  "
                << art["kind"].get<std::string>() << "  " << art["size"].get<int64_t>() << " B\n";
    for (const auto& [name, series] : last["metrics"].items()) {
      std::cout << "      metric " << pad(name, 16) << series.back()["value"].get<double>();
      if (series.size() > 1)
        std::cout << paint("  (" + std::to_string(series.size()) + " points, first " +
                               std::to_string(series.front()["value"].get<double>()) + ")",
                           "90");
      std::cout << "\n";
    }
  }
  return kExitOk;
}

int cmd_logs(const LogsArgs& a) {
  auto path = engine::run_dir(home_dir(), a.run) / (a.step + ".log");
  if (a.step.find('/') != std::string::npos) return fail("step names cannot contain '/'");
  std::ifstream in(path);
  if (!in) {
    auto st = open_store();
    if (st) {
      auto steps = st->list_steps(a.run);
      if (!steps) return fail("no run " + std::to_string(a.run));
      bool known = false;
      for (const auto& s : steps.value()) known |= s.step == a.step;
      if (!known) return fail("run " + std::to_string(a.run) + " has no step '" + a.step + "'");
    }
    std::cerr << "(step " << a.step << " of run " << a.run << " wrote no log)\n";
    return kExitOk;
  }
  std::cout << in.rdbuf();
  return kExitOk;
}

int cmd_artifacts(const ListArgs& a) {
  auto st = open_store();
  if (!st) return kExitFailed;
  auto arts = st->list_artifacts(a.limit);
  if (!arts) return fail(arts.status().message(), kExitFailed);
  if (a.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& x : arts.value()) j.push_back(artifact_json(x));
    print_json(j);
    return kExitOk;
  }
  std::cout << paint(pad("DIGEST", 14) + pad("KIND", 12) + pad("NAME", 18) + pad("SIZE", 12) +
                         "CREATED",
                     "1")
            << "\n";
  for (const auto& x : arts.value())
    std::cout << pad(short_digest(x.digest), 14) << pad(x.kind, 12) << pad(x.name, 18)
              << pad(std::to_string(x.size), 12) << format_time(x.created_at) << "\n";
  return kExitOk;
}

int cmd_plugins_list(const PluginArgs& a) {
  auto host = scan_plugins();
  std::vector<engine::PluginInfo> all = host->all();
  std::sort(all.begin(), all.end(), [](const auto& x, const auto& y) { return x.id < y.id; });
  if (a.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& p : all)
      j.push_back({{"id", p.id},
                   {"kind", p.kind},
                   {"name", p.name},
                   {"version", p.version},
                   {"abi", std::to_string(p.abi_major) + "." + std::to_string(p.abi_minor)},
                   {"description", p.description},
                   {"executor", p.executor},
                   {"cacheable", p.cacheable},
                   {"path", p.path},
                   {"broken", p.broken}});
    print_json(j);
    return kExitOk;
  }
  std::cout << paint(pad("PLUGIN", 26) + pad("VERSION", 10) + pad("ABI", 6) + "DESCRIPTION", "1")
            << "\n";
  for (const auto& p : all) {
    std::cout << pad(p.id, 26) << pad(p.version, 10)
              << pad(std::to_string(p.abi_major) + "." + std::to_string(p.abi_minor), 6);
    if (!p.broken.empty())
      std::cout << paint("broken: " + p.broken, "31");
    else
      std::cout << p.description;
    std::cout << "\n";
  }
  return kExitOk;
}

int cmd_plugins_describe(const PluginArgs& a) {
  auto host = scan_plugins();
  const engine::PluginInfo* p = nullptr;
  for (const auto& x : host->all())
    if (x.id == a.name || x.name == a.name) p = &x;
  if (!p) {
    std::string known;
    for (const auto& id : host->ids()) known += " " + id;
    return fail("no plugin '" + a.name + "'; installed:" + known);
  }
  auto ports = [](const std::vector<engine::PortSpec>& v) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& s : v)
      j.push_back({{"name", s.name}, {"kind", s.kind}, {"required", s.required}});
    return j;
  };
  nlohmann::json j = {{"id", p->id},
                      {"version", p->version},
                      {"abi", std::to_string(p->abi_major) + "." + std::to_string(p->abi_minor)},
                      {"description", p->description},
                      {"executor", p->executor},
                      {"cacheable", p->cacheable},
                      {"path", p->path},
                      {"params", p->params_schema},
                      {"inputs", ports(p->inputs)},
                      {"outputs", ports(p->outputs)},
                      {"broken", p->broken}};
  if (a.json) {
    print_json(j);
    return kExitOk;
  }
  std::cout << paint(p->id, "1") << " " << p->version << "  (ABI " << j["abi"].get<std::string>()
            << ", prefers " << p->executor << (p->cacheable ? "" : ", never cached") << ")\n  "
            << p->description << "\n  " << p->path << "\n";
  if (!p->broken.empty()) std::cout << paint("  broken: " + p->broken, "31") << "\n";
  std::cout << "\nparameters:\n";
  const auto& props = p->params_schema.value("properties", nlohmann::json::object());
  const auto& req = p->params_schema.value("required", nlohmann::json::array());
  if (props.empty()) std::cout << "  (none)\n";
  for (const auto& [name, s] : props.items()) {
    std::string type = "any";
    if (s.contains("type") && s["type"].is_string()) type = s["type"].get<std::string>();
    if (s.contains("type") && s["type"].is_array()) {
      type.clear();
      for (const auto& t : s["type"]) type += (type.empty() ? "" : "|") + t.get<std::string>();
    }
    std::cout << "  " << pad(name, 19) << " " << pad(type, 10);
    bool required = std::find(req.begin(), req.end(), name) != req.end();
    if (required) std::cout << "required ";
    if (s.contains("default")) std::cout << "default " << s["default"].dump() << " ";
    if (s.contains("description") && s["description"].is_string())
      std::cout << s["description"].get<std::string>();
    std::cout << "\n";
  }
  std::cout << "\ninputs:\n";
  if (p->inputs.empty()) std::cout << "  (any names)\n";
  for (const auto& s : p->inputs)
    std::cout << "  " << pad(s.name, 18) << pad(s.kind, 10)
              << (s.required ? "required" : "optional") << "\n";
  std::cout << "\noutputs:\n";
  if (p->outputs.empty()) std::cout << "  (none)\n";
  for (const auto& s : p->outputs) std::cout << "  " << pad(s.name, 18) << s.kind << "\n";
  return kExitOk;
}

}  // namespace llmops::cli
