// `llmops runs | show | logs | artifacts | plugins`: read-only views of the store and plugins.
#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/time.hpp"
#include "cli/commands.hpp"
#include "engine/plugins/exec_manifest.hpp"
#include "engine/run/run_lease.hpp"
#include "engine/run/runner.hpp"
#include "ui/views.hpp"

namespace fs = std::filesystem;

namespace llmops::cli {

using views::artifact_json;
using views::engine_json;
using views::execution_json;
using views::placement_json;
using views::run_json;

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

// "slurm job 12 on vm: RUNNING" ("" for an attempt that ran in the engine).
std::string placement_line(const store::ExecutionInfo& e) {
  const auto p = placement_json(e);
  if (p.value("executor", "") != "slurm") return "";
  std::string line = "slurm job " + p.value("job", "?");
  if (!p.value("node", "").empty()) line += " on " + p.value("node", "");
  line += ": " + p.value("state", "?");
  if (!p.value("reason", "").empty()) line += " (" + p.value("reason", "") + ")";
  return line;
}

// " (no engine: resume or cancel it)" for a run left running by an engine that is gone.
std::string orphan_note(const nlohmann::json& engine, const store::RunInfo& r) {
  if (r.state != store::State::kRunning) return "";
  if (engine.is_object() && engine.value("alive", false)) return "";
  return "no engine: llmops resume or cancel " + std::to_string(r.id);
}

}  // namespace

int cmd_runs(const ListArgs& a) {
  auto st = open_store();
  if (!st) return kExitFailed;
  auto runs = st->list_runs(a.limit);
  if (!runs) return fail(runs.status().message(), kExitFailed);
  if (a.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : runs.value()) {
      j.push_back(run_json(r));
      j.back()["engine"] = engine_json(*st, r);
      // Attempts that ran outside the engine (Slurm jobs): where, and in what state.
      auto ext = st->list_external_executions(r.id);
      if (!ext) return fail(ext.status().message(), kExitFailed);
      nlohmann::json jobs = nlohmann::json::array();
      for (const auto& e : ext.value())
        jobs.push_back({{"step", e.step},
                        {"attempt", e.attempt},
                        {"external_id", e.external_id},
                        {"placement", placement_json(e)}});
      j.back()["external"] = jobs;
    }
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
              << pad(format_time(r.started_at), 21) << format_duration(dur);
    if (auto note = orphan_note(engine_json(*st, r), r); !note.empty())
      std::cout << "  " << paint(note, "33");
    std::cout << "\n";
  }
  return kExitOk;
}

// Prints `doc` as print_json does, with the array `items` (count of them, made one at a time by
// `item(i)`) as the value of `key`: the same text, without the whole document in memory at once.
template <typename Item>
void print_json_with_array(nlohmann::json doc, const std::string& key, size_t count, Item&& item) {
  const std::string marker = "\x01llmops-array\x01";
  doc[key] = marker;
  const std::string text = doc.dump(2);
  const std::string placeholder = "\"" + key + "\": " + nlohmann::json(marker).dump();
  const size_t at = text.find(placeholder);
  std::cout << text.substr(0, at + key.size() + 4);  // up to and including `"key": `
  if (count == 0) {
    std::cout << "[]";
  } else {
    std::cout << "[\n";
    std::string indented;
    for (size_t i = 0; i < count; ++i) {
      // Nested two levels deep: four more spaces on each line (a newline in a string is "\n").
      const std::string one = item(i).dump(2);
      indented.assign("    ");
      for (char c : one) {
        indented += c;
        if (c == '\n') indented += "    ";
      }
      std::cout << indented << (i + 1 < count ? ",\n" : "\n");
    }
    std::cout << "  ]";
  }
  std::cout << text.substr(at + placeholder.size()) << "\n";
}

// Reads one page of steps with a fixed number of queries (store/executions.cpp) and groups the
// executions by step through a hash map: linear in what is printed. (It was a scan of every
// execution of the run for each step, plus three queries per execution: 73 s for 100,000 steps.)
int cmd_show(const ShowArgs& a) {
  auto st = open_store();
  if (!st) return kExitFailed;
  auto run = st->get_run(a.run);
  if (!run) return fail(run.status().message());
  auto page = st->list_steps_page(a.run, a.steps_offset, a.steps_limit);
  if (!page)
    return fail("cannot read run " + std::to_string(a.run) + ": " + page.status().message(),
                kExitFailed);
  const auto& steps = page->steps;
  std::vector<std::string> names;
  names.reserve(steps.size());
  for (const auto& s : steps) names.push_back(s.step);
  auto details = st->execution_details(a.run, names);
  if (!details)
    return fail("cannot read run " + std::to_string(a.run) + ": " + details.status().message(),
                kExitFailed);
  std::unordered_map<std::string, std::vector<const store::Store::ExecutionDetail*>> by_step;
  for (const auto& d : details.value()) by_step[d.info.step].push_back(&d);
  auto executions_of =
      [&](const std::string& step) -> const std::vector<const store::Store::ExecutionDetail*>& {
    static const std::vector<const store::Store::ExecutionDetail*> kNone;
    auto it = by_step.find(step);
    return it == by_step.end() ? kNone : it->second;
  };

  if (a.json) {
    nlohmann::json j = run_json(run.value());
    j["engine"] = engine_json(*st, run.value());
    // Totals, so that a script can page: --steps-offset steps_offset + len(steps) until
    // steps_total.
    j["steps_total"] = page->total;
    j["steps_offset"] = a.steps_offset;
    j["steps_limit"] = a.steps_limit < 0 ? nlohmann::json() : nlohmann::json(a.steps_limit);
    print_json_with_array(std::move(j), "steps", steps.size(), [&](size_t i) {
      const auto& s = steps[i];
      nlohmann::json sj = {{"step", s.step},
                           {"state", store::to_string(s.state)},
                           {"reason", s.reason},
                           {"attempts", s.attempts},
                           {"started_at", s.started_at},
                           {"ended_at", s.ended_at},
                           {"executions", nlohmann::json::array()}};
      for (const auto* d : executions_of(s.step)) sj["executions"].push_back(execution_json(*d));
      return sj;
    });
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
  if (auto note = orphan_note(engine_json(*st, r), r); !note.empty())
    std::cout << "  engine   " << paint(note, "33") << "\n";
  if (a.steps_offset > 0 || static_cast<int64_t>(steps.size()) < page->total) {
    std::cout << "  steps    ";
    if (steps.empty())
      std::cout << "none";
    else
      std::cout << a.steps_offset + 1 << "-" << a.steps_offset + static_cast<int64_t>(steps.size());
    std::cout << " of " << page->total << " (--steps-offset, --steps-limit)\n";
  }
  std::cout << "\n";
  for (const auto& s : steps) {
    std::cout << "  " << pad(s.step, 20) << state_colour(s.state) << state_gap(s.state);
    if (s.attempts > 1) std::cout << s.attempts << " attempts ";
    if (s.ended_at > 0 && s.started_at > 0) std::cout << format_duration(s.ended_at - s.started_at);
    if (!s.reason.empty()) std::cout << paint("  " + s.reason, "90");
    std::cout << "\n";
    const auto& execs = executions_of(s.step);
    if (execs.empty()) continue;
    const auto& last = *execs.back();
    if (!last.info.error.empty() && s.state != store::State::kSucceeded)
      std::cout << "      error: " << last.info.error << "\n";
    if (auto where = placement_line(last.info); !where.empty())
      std::cout << "      " << where << "\n";
    // By role and by name, as the JSON objects order them (a later event of a role wins).
    std::map<std::string, const store::Artifact*> outputs;
    for (const auto& ev : last.outputs) outputs[ev.role] = &ev.artifact;
    for (const auto& [role, art] : outputs)
      std::cout << "      out  " << pad(role, 12) << short_digest(art->digest) << "  " << art->kind
                << "  " << art->size << " B\n";
    std::map<std::string, std::vector<double>> metrics;
    for (const auto& m : last.metrics) metrics[m.name].push_back(m.value);
    for (const auto& [name, series] : metrics) {
      std::cout << "      metric " << pad(name, 15) << " " << series.back();
      if (series.size() > 1)
        std::cout << paint("  (" + std::to_string(series.size()) + " points, first " +
                               std::to_string(series.front()) + ")",
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
      if (auto run = st->get_run(a.run); !run) return fail(run.status().message());
      auto step = st->get_step(a.run, a.step);
      if (!step) return fail(step.status().message(), kExitFailed);
      if (!step.value())
        return fail("run " + std::to_string(a.run) + " has no step '" + a.step + "'");
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

// "1.1" for a library (its ABI), "step/1" for an executable plugin (its step protocol).
std::string interface_of(const engine::PluginInfo& p) {
  if (engine::is_exec_manifest(p.path))
    return "step/" + std::to_string(engine::kStepProtocolVersion);
  return std::to_string(p.abi_major) + "." + std::to_string(p.abi_minor);
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
                   {"abi", interface_of(p)},
                   {"runtime", engine::is_exec_manifest(p.path) ? "executable" : "library"},
                   {"description", p.description},
                   {"executor", p.executor},
                   {"cacheable", p.cacheable},
                   {"path", p.path},
                   {"broken", p.broken}});
    print_json(j);
    return kExitOk;
  }
  std::cout << paint(pad("PLUGIN", 26) + pad("VERSION", 10) + pad("ABI", 7) + "DESCRIPTION", "1")
            << "\n";
  for (const auto& p : all) {
    std::cout << pad(p.id, 26) << pad(p.version, 10) << pad(interface_of(p), 7);
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
                      {"abi", interface_of(*p)},
                      {"runtime", engine::is_exec_manifest(p->path) ? "executable" : "library"},
                      {"description", p->description},
                      {"executor", p->executor},
                      {"cacheable", p->cacheable},
                      {"path", p->path},
                      {"params", p->params_schema},
                      {"inputs", ports(p->inputs)},
                      {"defaults",
                       {{"timeout_s", p->default_timeout_s},
                        {"cpus", p->default_cpus},
                        {"memory", p->default_memory},
                        {"gpus", p->default_gpus}}},
                      {"outputs", ports(p->outputs)},
                      {"broken", p->broken}};
  if (a.json) {
    print_json(j);
    return kExitOk;
  }
  const bool exec = engine::is_exec_manifest(p->path);
  std::cout << paint(p->id, "1") << " " << p->version
            << (exec ? "  (executable, protocol " : "  (ABI ") << j["abi"].get<std::string>()
            << ", prefers " << p->executor << (p->cacheable ? "" : ", never cached") << ")\n  "
            << p->description << "\n  " << p->path << "\n";
  if (!p->broken.empty()) std::cout << paint("  broken: " + p->broken, "31") << "\n";
  if (p->default_timeout_s > 0 || p->default_cpus > 0 || p->default_memory > 0 ||
      p->default_gpus > 0) {
    std::cout << "  defaults:";
    if (p->default_timeout_s > 0) std::cout << " timeout " << p->default_timeout_s << "s";
    if (p->default_cpus > 0) std::cout << " cpus " << p->default_cpus;
    if (p->default_memory > 0) std::cout << " memory " << (p->default_memory >> 20) << "Mi";
    if (p->default_gpus > 0) std::cout << " gpus " << p->default_gpus;
    std::cout << " (a step's own timeout/resources win)\n";
  }
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
