// `llmops validate | run | resume | graph`: the commands that read pipeline files and run them.
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>

#include "cli/commands.hpp"
#include "engine/exec/subprocess_executor.hpp"
#include "engine/plan/dag.hpp"
#include "engine/run/feedback_loop.hpp"
#include "engine/run/runner.hpp"
#include "engine/spec/loader.hpp"
#include "engine/spec/validator.hpp"

namespace fs = std::filesystem;

namespace llmops::cli {

namespace {

std::atomic<bool>* g_interrupt = nullptr;

void on_sigint(int) {
  if (g_interrupt) {
    if (g_interrupt->load()) _exit(130);  // second Ctrl-C: stop now
    g_interrupt->store(true);
  }
}

bool parse_overrides(const std::vector<std::string>& kv, std::map<std::string, std::string>* out) {
  for (const auto& s : kv) {
    const auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0) {
      fail("-p expects key=value, got '" + s + "'");
      return false;
    }
    (*out)[s.substr(0, eq)] = s.substr(eq + 1);
  }
  return true;
}

nlohmann::json diag_json(const engine::Diagnostic& d) {
  return {{"file", d.file},
          {"line", d.pos.line},
          {"column", d.pos.col},
          {"severity", d.warning ? "warning" : "error"},
          {"message", d.message}};
}

void print_diagnostics(const std::vector<engine::Diagnostic>& ds) {
  for (const auto& d : ds) std::cerr << d.str() << "\n";
}

bool has_errors(const std::vector<engine::Diagnostic>& ds) {
  for (const auto& d : ds)
    if (!d.warning) return true;
  return false;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Live progress: one line per state change; on a terminal, a status line for running steps.
class Progress {
 public:
  explicit Progress(std::ostream& out, bool live) : out_(out), live_(live) {}
  void operator()(const engine::RunEvent& ev) {
    std::lock_guard lock(mu_);
    if (ev.type == engine::RunEvent::kProgress) {
      if (!live_) return;
      char pct[16] = "";
      if (ev.total > 0) std::snprintf(pct, sizeof pct, " %3.0f%%", 100.0 * ev.done / ev.total);
      out_ << "\r\033[K  " << paint("…", "33") << " " << ev.step << pct << " " << ev.note
           << std::flush;
      status_shown_ = true;
      return;
    }
    if (status_shown_) {
      out_ << "\r\033[K";
      status_shown_ = false;
    }
    std::string line = "  " + pad(ev.step, 20) + " " + state_colour(ev.state);
    if (ev.attempt > 1) line += " (attempt " + std::to_string(ev.attempt) + ")";
    if (!ev.note.empty()) line += paint("  " + ev.note, "90");
    out_ << line << "\n" << std::flush;
  }

 private:
  static std::string pad(const std::string& s, size_t n) {
    return s.size() >= n ? s : s + std::string(n - s.size(), ' ');
  }
  std::ostream& out_;
  bool live_;
  bool status_shown_ = false;
  std::mutex mu_;
};

// `subprocess` runs steps in `llmops exec-step` workers: this very binary.
void add_executors(engine::Runner& runner) {
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) runner.add_executor("subprocess", std::make_shared<engine::SubprocessExecutor>(self));
}

int execute_run(store::Store& st, engine::Runner& runner, int64_t run_id, engine::RunOptions opts,
                bool json, engine::RunSummary* out_summary = nullptr) {
  auto interrupt = std::make_shared<std::atomic<bool>>(false);
  g_interrupt = interrupt.get();
  std::signal(SIGINT, on_sigint);
  std::signal(SIGTERM, on_sigint);
  opts.interrupt = interrupt;
  std::ostream& out = json ? std::cerr : std::cout;
  Progress progress(out, isatty(json ? STDERR_FILENO : STDOUT_FILENO));
  opts.on_event = [&](const engine::RunEvent& ev) { progress(ev); };
  out << "run " << run_id << " started (store " << st.home().string() << ")\n";
  auto summary = runner.execute(run_id, opts);
  g_interrupt = nullptr;
  if (!summary) return fail(summary.status().message(), kExitFailed);
  const auto& s = summary.value();
  if (out_summary) *out_summary = s;
  if (json) {
    nlohmann::json j = {
        {"run", s.run_id}, {"state", s.state}, {"seconds", s.seconds}, {"steps", s.step_states}};
    print_json(j);
  } else {
    std::map<std::string, int> counts;
    for (const auto& [_, state] : s.step_states) counts[state]++;
    std::string parts;
    for (const auto& [state, n] : counts)
      parts += (parts.empty() ? "" : ", ") + std::to_string(n) + " " + state;
    out << "run " << s.run_id << " " << state_colour(s.state) << " in "
        << format_duration(s.seconds) << " (" << parts << ")\n";
    if (s.state != "succeeded")
      out << "  details: llmops show " << s.run_id << "   resume: llmops resume " << s.run_id
          << "\n";
  }
  return s.state == "succeeded" ? kExitOk : kExitFailed;
}

// One run of a feedback chain and the pipeline it ran.
struct ChainLink {
  int64_t run_id = 0;
  std::string state;
  std::shared_ptr<engine::FeedbackPipeline> pipeline;
};

// What each run of a chain produced that a person asks about first: the evaluators' verdicts and
// the metrics their gates name, where deployments listen, and how to see the lineage.
void print_outcome(store::Store& st, const std::vector<ChainLink>& chain, std::ostream& out) {
  std::string lineage_ref, fallback_ref;
  for (const auto& link : chain) {
    const int64_t run_id = link.run_id;
    const auto& spec = link.pipeline->spec;
    auto execs = st.list_executions(run_id);
    if (!execs) continue;
    std::string line;
    for (const auto& e : execs.value()) {
      if (e.state != "succeeded" && e.state != "cached") continue;
      const auto* step = spec.find_step(e.step);
      if (!step) continue;
      if (auto outs = st.execution_events(e.id, true))
        for (const auto& ev : outs.value())
          if (ev.artifact.kind == "deployment") lineage_ref = std::to_string(run_id) + ":" + e.step;
      if (e.plugin_id.rfind("evaluator/", 0) != 0) continue;
      const std::string gates = step->with.contains("gates") ? step->with["gates"].dump() : "";
      auto mets = st.execution_metrics(e.id);
      if (!mets) continue;
      std::map<std::string, double> last;
      for (const auto& m : mets.value()) last[m.name] = m.value;
      for (const auto& [name, v] : last) {
        if (name != "blessed" && gates.find("\"" + name) == std::string::npos &&
            gates.find(name + " ") == std::string::npos)
          continue;
        char buf[96];
        std::snprintf(buf, sizeof buf, " %s=%.3g", name.c_str(), v);
        line += buf;
      }
    }
    if (!line.empty()) out << "  run " << run_id << " (" << spec.name << "):" << line << "\n";
    if (!execs->empty()) fallback_ref = std::to_string(run_id) + ":" + execs->back().step;
  }
  if (lineage_ref.empty()) lineage_ref = fallback_ref;
  if (auto deps = st.list_deployments(); deps && !deps->empty())
    for (const auto& d : deps.value())
      for (const auto& link : chain)
        if (d.state == "running" && d.run_id && *d.run_id == link.run_id)
          out << "  serving " << d.name << " at " << d.endpoint << " (run " << link.run_id << ")\n";
  if (!lineage_ref.empty()) out << "  lineage: llmops lineage " << lineage_ref << "\n";
}

// Loads another pipeline that a feedback rule re-enters, validated as `llmops run` would.
engine::PipelineLoader pipeline_loader(std::shared_ptr<engine::PluginHost> host) {
  return [host](const fs::path& file) -> Result<std::shared_ptr<engine::FeedbackPipeline>> {
    auto r = engine::check_pipeline_file(file, {}, *host);
    auto p = std::make_shared<engine::FeedbackPipeline>();
    if (r.spec) {
      p->text = read_file(file);
      p->rules = engine::parse_feedback(*r.spec, &r.diagnostics, p->text);
    }
    std::string errors;
    for (const auto& d : r.diagnostics)
      if (!d.warning) errors += "\n  " + d.str();
    if (!errors.empty() || !r.spec)
      return Status::invalid("pipeline " + file.string() + " does not validate:" + errors);
    p->spec = std::move(*r.spec);
    return p;
  };
}

// Runs the feedback loop: while a finished run raised a trigger that a rule of its pipeline
// matches, start the re-entry run it asks for (possibly of another pipeline). Prints why the loop
// ran and why it stopped.
int follow_feedback(store::Store& st, engine::Runner& runner,
                    std::shared_ptr<engine::FeedbackPipeline> first,
                    const engine::PipelineLoader& load, const engine::RunOptions& opts, bool json,
                    int rc, engine::RunSummary last) {
  std::ostream& out = json ? std::cerr : std::cout;
  std::vector<ChainLink> chain{{last.run_id, last.state, first}};
  while (rc == kExitOk) {
    const auto& cur = chain.back().pipeline;
    if (cur->rules.empty()) break;
    std::string note;
    auto next =
        engine::plan_reentry(st, runner, cur->spec, cur->text, cur->rules, last, &note, load);
    if (!next) return fail(next.status().message(), kExitFailed);
    if (!next.value()) {
      if (!note.empty())
        out << paint("feedback: ", "1") << note << "\n";
      else if (chain.size() > 1)
        out << paint("feedback: ", "1") << "no trigger raised: the loop is done\n";
      break;
    }
    const auto& re = *next.value();
    out << paint("feedback: ", "1") << re.why << " -> run " << re.run_id << " re-enters "
        << (re.other ? "pipeline " + re.other->spec.name : std::string("the pipeline")) << "\n";
    rc = execute_run(st, runner, re.run_id, opts, json, &last);
    chain.push_back({last.run_id, last.state, re.other ? re.other : cur});
  }
  if (chain.size() > 1) {
    out << "cycles:";
    for (size_t i = 0; i < chain.size(); ++i)
      out << (i ? " -> " : " ") << "run " << chain[i].run_id << " (" << chain[i].state << ")";
    out << "\n";
  }
  print_outcome(st, chain, out);
  return rc;
}

}  // namespace

int cmd_validate(const ValidateArgs& a) {
  std::map<std::string, std::string> overrides;
  if (!parse_overrides(a.params, &overrides)) return kExitInvalid;
  auto host = scan_plugins();
  auto r = engine::check_pipeline_file(a.file, overrides, *host);
  if (r.spec) engine::parse_feedback(*r.spec, &r.diagnostics);
  const bool bad = has_errors(r.diagnostics);
  if (a.json) {
    nlohmann::json j = {
        {"file", a.file}, {"valid", !bad}, {"diagnostics", nlohmann::json::array()}};
    for (const auto& d : r.diagnostics) j["diagnostics"].push_back(diag_json(d));
    if (r.spec) j["steps"] = r.spec->steps.size();
    print_json(j);
  } else {
    print_diagnostics(r.diagnostics);
    if (!bad && r.spec)
      std::cout << a.file << ": ok (" << r.spec->steps.size() << " steps)\n";
    else
      std::cerr << a.file << ": " << r.diagnostics.size() << " problem(s)\n";
  }
  return bad ? kExitInvalid : kExitOk;
}

int cmd_run(const RunArgs& a) {
  std::map<std::string, std::string> overrides;
  if (!parse_overrides(a.params, &overrides)) return kExitInvalid;
  if (a.max_parallel < 0) return fail("--max-parallel must be at least 1");
  auto host = scan_plugins();
  auto r = engine::check_pipeline_file(a.file, overrides, *host);
  std::vector<engine::FeedbackRule> rules;
  if (r.spec) rules = engine::parse_feedback(*r.spec, &r.diagnostics);
  print_diagnostics(r.diagnostics);
  if (has_errors(r.diagnostics) || !r.spec) return kExitInvalid;
  const auto& spec = *r.spec;
  if (a.dry_run) {
    auto dag = engine::Dag::build(spec);
    nlohmann::json plan = nlohmann::json::array();
    for (const auto& name : dag.topo_order()) {
      const auto* s = spec.find_step(name);
      const auto* p = host->find(s->uses, s->version_constraint);
      plan.push_back({{"step", name},
                      {"uses", s->uses},
                      {"plugin", p ? p->id + "@" + p->version : "?"},
                      {"needs", s->needs}});
    }
    if (a.json) {
      print_json({{"pipeline", spec.name}, {"params", spec.param_values}, {"plan", plan}});
    } else {
      std::cout << "pipeline " << spec.name << ": " << plan.size()
                << " steps (dry run, nothing recorded)\n";
      for (const auto& p : plan) {
        std::cout << "  " << p["step"].get<std::string>() << "  " << p["plugin"].get<std::string>();
        if (!p["needs"].empty()) std::cout << "  needs " << p["needs"].dump();
        std::cout << "\n";
      }
    }
    return kExitOk;
  }
  auto st = open_store();
  if (!st) return kExitFailed;
  engine::Runner runner(*st, host);
  add_executors(runner);
  engine::RunOptions opts;
  opts.max_parallel = a.max_parallel;
  opts.no_cache = a.no_cache;
  opts.fail_fast = a.fail_fast;
  // Set by `llmops scheduler` for the runs it starts: the trigger and its nominal fire time.
  if (const char* t = std::getenv("LLMOPS_TRIGGER"); t && *t) opts.trigger = t;
  if (const char* i = std::getenv("LLMOPS_TRIGGER_INFO"); i && *i) opts.trigger_info_json = i;
  auto pipeline = std::make_shared<engine::FeedbackPipeline>();
  pipeline->spec = spec;
  pipeline->text = read_file(a.file);
  pipeline->rules = std::move(rules);
  auto id = runner.start(spec, pipeline->text, opts);
  if (!id) return fail(id.status().message(), kExitFailed);
  engine::RunSummary summary;
  int rc = execute_run(*st, runner, id.value(), opts, a.json, &summary);
  return follow_feedback(*st, runner, pipeline, pipeline_loader(host), opts, a.json, rc, summary);
}

int cmd_resume(const ResumeArgs& a) {
  auto st = open_store();
  if (!st) return kExitFailed;
  auto run = st->get_run(a.run);
  if (!run) return fail(run.status().message());
  if (run->state == "succeeded") {
    std::cout << "run " << a.run << " already succeeded: nothing to resume\n";
    return kExitOk;
  }
  engine::Runner runner(*st, scan_plugins());
  add_executors(runner);
  engine::RunOptions opts;
  opts.max_parallel = a.max_parallel;
  opts.no_cache = a.no_cache;
  return execute_run(*st, runner, a.run, opts, a.json);
}

int cmd_graph(const GraphArgs& a) {
  auto r = engine::load_pipeline_file(a.file, {}, /*require_params=*/false);
  print_diagnostics(r.diagnostics);
  if (!r.ok() || !r.spec) return kExitInvalid;
  auto dag = engine::Dag::build(*r.spec);
  if (auto c = dag.find_cycle()) return fail("the pipeline has a cycle");
  const auto& spec = *r.spec;
  auto quote = [](const std::string& s) { return "\"" + s + "\""; };
  if (a.format == "mermaid") {
    std::cout << "flowchart LR\n";
    for (const auto& s : spec.steps)
      std::cout << "  " << s.name << "[\"" << s.name << "<br/>" << s.uses << "\"]\n";
    for (const auto& s : spec.steps)
      for (const auto& n : s.needs) std::cout << "  " << n << " --> " << s.name << "\n";
  } else {
    std::cout << "digraph " << quote(spec.name) << " {\n  rankdir=LR;\n  node [shape=box];\n";
    for (const auto& s : spec.steps)
      std::cout << "  " << quote(s.name) << " [label=" << quote(s.name + "\\n" + s.uses) << "];\n";
    for (const auto& s : spec.steps)
      for (const auto& n : s.needs)
        std::cout << "  " << quote(n) << " -> " << quote(s.name) << ";\n";
    std::cout << "}\n";
  }
  return kExitOk;
}

}  // namespace llmops::cli
