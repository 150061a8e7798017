// `llmops validate | run | resume | graph`: the commands that read pipeline files and run them.
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <map>
#include <mutex>

#include "base/time.hpp"
#include "cli/commands.hpp"
#include "engine/exec/slurm_executor.hpp"
#include "engine/exec/subprocess_executor.hpp"
#include "engine/plan/dag.hpp"
#include "engine/run/feedback_loop.hpp"
#include "engine/run/run_lease.hpp"
#include "engine/run/runner.hpp"
#include "engine/spec/loaded_pipeline.hpp"
#include "llmops/artifacts.hpp"

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
    // A retry is a step back to pending; the person watching is told why it is not done yet.
    const std::string state =
        ev.type == engine::RunEvent::kRetry ? paint("retrying", "33") : state_colour(ev.state);
    std::string line = "  " + pad(ev.step, 20) + " " + state;
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

// `subprocess` runs steps in `llmops exec-step` workers: this very binary; `slurm` runs the same
// worker in Slurm jobs.
void add_executors(engine::Runner& runner) {
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return;
  runner.add_executor("subprocess", std::make_shared<engine::SubprocessExecutor>(self));
  runner.add_executor(
      "slurm", std::make_shared<engine::SlurmExecutor>(engine::SlurmOptions::from_env(self)));
}

// Ctrl-C (or SIGTERM) cancels the run in progress; a second one stops at once.
class InterruptScope {
 public:
  InterruptScope() : flag_(std::make_shared<std::atomic<bool>>(false)) {
    g_interrupt = flag_.get();
    std::signal(SIGINT, on_sigint);
    std::signal(SIGTERM, on_sigint);
  }
  ~InterruptScope() { g_interrupt = nullptr; }
  std::shared_ptr<std::atomic<bool>> flag() const { return flag_; }

 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

// The terminal side of executing runs (`run`, `resume`): progress on stdout (on stderr with
// --json, which keeps stdout for the summary) and Ctrl-C, wired into the run options.
class Console {
 public:
  Console(bool json, engine::RunOptions& opts)
      : out_(json ? std::cerr : std::cout),
        progress_(out_, isatty(json ? STDERR_FILENO : STDOUT_FILENO)) {
    opts.interrupt = interrupt_.flag();
    opts.on_event = [this](const engine::RunEvent& ev) { progress_(ev); };
  }
  std::ostream& out() { return out_; }
  void started(int64_t run, const store::Store& st) {
    out_ << "run " << run << " started (store " << st.home().string() << ")\n";
  }

 private:
  std::ostream& out_;
  Progress progress_;
  InterruptScope interrupt_;
};

void print_summary(const engine::RunSummary& s, bool json, std::ostream& out) {
  if (json) {
    nlohmann::json steps = nlohmann::json::object();
    for (const auto& [name, state] : s.step_states) steps[name] = store::to_string(state);
    nlohmann::json j = {{"run", s.run_id},
                        {"state", store::to_string(s.state)},
                        {"seconds", s.seconds},
                        {"steps", steps}};
    print_json(j);
    return;
  }
  std::map<std::string, int> counts;  // by word: the summary lists them alphabetically
  for (const auto& [_, state] : s.step_states) counts[store::to_string(state)]++;
  std::string parts;
  for (const auto& [state, n] : counts)
    parts += (parts.empty() ? "" : ", ") + std::to_string(n) + " " + state;
  out << "run " << s.run_id << " " << state_colour(s.state) << " in " << format_duration(s.seconds)
      << " (" << parts << ")\n";
  if (s.state != store::State::kSucceeded)
    out << "  details: llmops show " << s.run_id << "   resume: llmops resume " << s.run_id << "\n";
}

// What each run of a chain produced that a person asks about first: the evaluators' verdicts and
// the metrics their gates name, where deployments listen, and how to see the lineage.
void print_outcome(store::Store& st, const std::vector<engine::ChainLink>& chain,
                   std::ostream& out) {
  std::string lineage_ref, fallback_ref;
  for (const auto& link : chain) {
    const int64_t run_id = link.run_id;
    const auto& spec = *link.pipeline->spec;
    auto execs = st.list_executions(run_id);
    if (!execs) continue;
    std::string line;
    for (const auto& e : execs.value()) {
      if (!is_success(e.state)) continue;
      const auto* step = spec.find_step(e.step);
      if (!step) continue;
      if (auto outs = st.execution_events(e.id, true))
        for (const auto& ev : outs.value())
          if (ev.artifact.kind == artifact_kind::kDeployment)
            lineage_ref = std::to_string(run_id) + ":" + e.step;
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

// Loads a pipeline file once and validates it against the installed plugins.
engine::LoadedPipeline load_checked(const fs::path& file,
                                    const std::map<std::string, std::string>& overrides,
                                    const engine::PluginCatalog& catalog) {
  engine::LoadOptions lo;
  lo.overrides = overrides;
  lo.catalog = &catalog;
  return engine::LoadedPipeline::from_file(file, lo);
}

// Loads another pipeline that a feedback rule re-enters, validated as `llmops run` would.
engine::PipelineLoader pipeline_loader(std::shared_ptr<engine::PluginHost> host) {
  return [host](const fs::path& file) -> Result<std::shared_ptr<const engine::LoadedPipeline>> {
    auto p = std::make_shared<engine::LoadedPipeline>(load_checked(file, {}, *host));
    if (!p->ok())
      return Status::invalid("pipeline " + file.string() +
                             " does not validate:" + engine::error_lines(p->diagnostics));
    return std::shared_ptr<const engine::LoadedPipeline>(std::move(p));
  };
}

// Executes recorded run `run_id` and follows feedback; prints progress, each run's summary, why
// the loop went on or stopped, and the outcome of the chain.
int run_chain(store::Store& st, engine::Runner& runner, engine::PipelineLoader load,
              std::shared_ptr<const engine::Plan> plan, int64_t run_id, engine::RunOptions opts,
              bool json) {
  Console console(json, opts);
  std::ostream& out = console.out();
  engine::FeedbackObserver obs;
  obs.run_started = [&](int64_t id) { console.started(id, st); };
  obs.run_finished = [&](const engine::RunSummary& s) { print_summary(s, json, out); };
  obs.reentering = [&](const engine::Reentry& re) {
    out << paint("feedback: ", "1") << re.why << " -> run " << re.run_id << " re-enters "
        << (re.other_pipeline ? "pipeline " + re.plan->spec().name : std::string("the pipeline"))
        << "\n";
  };
  obs.stopped = [&](const std::string& why) { out << paint("feedback: ", "1") << why << "\n"; };
  engine::FeedbackLoop loop(st, runner, std::move(load));
  auto chain = loop.run(std::move(plan), run_id, opts, obs);
  if (!chain) return fail(chain.status().message(), kExitFailed);
  if (chain->size() > 1) {
    out << "cycles:";
    for (size_t i = 0; i < chain->size(); ++i)
      out << (i ? " -> " : " ") << "run " << (*chain)[i].run_id << " ("
          << store::to_string((*chain)[i].state) << ")";
    out << "\n";
  }
  print_outcome(st, chain.value(), out);
  return chain->back().state == store::State::kSucceeded ? kExitOk : kExitFailed;
}

}  // namespace

// What the machine lacks for the executors the pipeline uses (Slurm's commands, a slurmctld that
// answers), as errors at the first step that needs each.
std::vector<engine::Diagnostic> executor_diagnostics(
    std::shared_ptr<const engine::LoadedPipeline> pipeline, const engine::PluginHost& host) {
  std::vector<engine::Diagnostic> out;
  auto plan = engine::Plan::build(std::move(pipeline), host);
  if (!plan) return out;
  for (const auto& ps : plan->steps()) {
    if (ps.executor != "slurm") continue;
    std::error_code ec;
    engine::SlurmExecutor slurm(
        engine::SlurmOptions::from_env(fs::read_symlink("/proc/self/exe", ec)));
    if (Status s = slurm.preflight(); !s.is_ok())
      out.push_back(
          {plan->pipeline().file, ps.spec->pos, "step " + ps.spec->name + ": " + s.message()});
    break;  // one check says it for every step on Slurm
  }
  return out;
}

int cmd_validate(const ValidateArgs& a) {
  std::map<std::string, std::string> overrides;
  if (!parse_overrides(a.params, &overrides)) return kExitInvalid;
  auto host = scan_plugins();
  auto p = std::make_shared<const engine::LoadedPipeline>(load_checked(a.file, overrides, *host));
  std::vector<engine::Diagnostic> diags = p->diagnostics;
  if (p->ok())
    for (auto& d : executor_diagnostics(p, *host)) diags.push_back(std::move(d));
  bool bad = !p->ok();
  for (const auto& d : diags) bad = bad || !d.warning;
  if (a.json) {
    nlohmann::json j = {
        {"file", a.file}, {"valid", !bad}, {"diagnostics", nlohmann::json::array()}};
    for (const auto& d : diags) j["diagnostics"].push_back(diag_json(d));
    if (p->spec) j["steps"] = p->spec->steps.size();
    print_json(j);
  } else {
    print_diagnostics(diags);
    if (!bad)
      std::cout << a.file << ": ok (" << p->spec->steps.size() << " steps)\n";
    else
      std::cerr << a.file << ": " << diags.size() << " problem(s)\n";
  }
  return bad ? kExitInvalid : kExitOk;
}

// `--dry-run`: the plan, as a run would execute it; nothing is recorded.
int print_plan(const engine::Plan& plan, bool json) {
  const auto& spec = plan.spec();
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& ps : plan.steps())
    steps.push_back({{"step", ps.spec->name},
                     {"uses", ps.spec->uses},
                     {"plugin", ps.plugin->id + "@" + ps.plugin->version},
                     {"executor", ps.executor},
                     {"needs", ps.spec->needs}});
  if (json) {
    print_json({{"pipeline", spec.name}, {"params", spec.param_values}, {"plan", steps}});
    return kExitOk;
  }
  std::cout << "pipeline " << spec.name << ": " << steps.size()
            << " steps (dry run, nothing recorded)\n";
  for (const auto& p : steps) {
    std::cout << "  " << p["step"].get<std::string>() << "  " << p["plugin"].get<std::string>();
    if (!p["needs"].empty()) std::cout << "  needs " << p["needs"].dump();
    std::cout << "\n";
  }
  return kExitOk;
}

int cmd_run(const RunArgs& a) {
  std::map<std::string, std::string> overrides;
  if (!parse_overrides(a.params, &overrides)) return kExitInvalid;
  if (a.max_parallel < 0) return fail("--max-parallel must be at least 1");
  engine::RunOrigin origin;
  if (!a.trigger.empty()) origin.trigger = a.trigger;
  if (!a.trigger_info.empty()) {
    auto info = nlohmann::json::parse(a.trigger_info, nullptr, false);
    if (!info.is_object()) return fail("--trigger-info must be a JSON object", kExitInvalid);
    origin.info = engine::trigger_info_from_json(info);
  }
  auto host = scan_plugins();
  auto pipeline =
      std::make_shared<const engine::LoadedPipeline>(load_checked(a.file, overrides, *host));
  print_diagnostics(pipeline->diagnostics);
  if (!pipeline->ok()) return kExitInvalid;
  auto built = engine::Plan::build(pipeline, *host);
  if (!built) return fail(built.status().message(), kExitInvalid);
  if (a.dry_run) return print_plan(built.value(), a.json);
  auto plan = std::make_shared<const engine::Plan>(std::move(built.value()));
  auto st = open_store();
  if (!st) return kExitFailed;
  engine::Runner runner(*st, host);
  add_executors(runner);
  engine::RunOptions opts;
  opts.max_parallel = a.max_parallel;
  opts.no_cache = a.no_cache;
  opts.fail_fast = a.fail_fast;
  if (Status s = runner.preflight(*plan); !s.is_ok()) return fail(s.message(), kExitFailed);
  auto id = runner.start(*pipeline, origin);
  if (!id) return fail(id.status().message(), kExitFailed);
  return run_chain(*st, runner, pipeline_loader(host), std::move(plan), id.value(), opts, a.json);
}

int cmd_resume(const ResumeArgs& a) {
  auto st = open_store();
  if (!st) return kExitFailed;
  auto run = st->get_run(a.run);
  if (!run) return fail(run.status().message());
  if (run->state == store::State::kSucceeded) {
    std::cout << "run " << a.run << " already succeeded: nothing to resume\n";
    return kExitOk;
  }
  // Refused before anything is printed when a live engine owns the run (execute() checks again,
  // atomically, when it takes the run).
  if (auto owner = st->run_owner(a.run);
      owner && owner.value() &&
      engine::owner_alive(*owner.value(), engine::LeaseOptions{}, base::unix_now()))
    return fail(engine::owner_refusal(a.run, *owner.value(), base::unix_now()), kExitFailed);
  engine::Runner runner(*st, scan_plugins());
  add_executors(runner);
  engine::RunOptions opts;
  opts.max_parallel = a.max_parallel;
  opts.no_cache = a.no_cache;
  Console console(a.json, opts);
  console.started(a.run, *st);
  // The plan comes from the run's recorded text alone.
  auto summary = runner.execute(a.run, opts);
  if (!summary) return fail(summary.status().message(), kExitFailed);
  print_summary(summary.value(), a.json, console.out());
  return summary->state == store::State::kSucceeded ? kExitOk : kExitFailed;
}

int cmd_graph(const GraphArgs& a) {
  engine::LoadOptions lo;
  lo.require_params = false;
  const auto r = engine::LoadedPipeline::from_file(a.file, lo);
  print_diagnostics(r.diagnostics);
  if (!r.ok()) return kExitInvalid;
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
