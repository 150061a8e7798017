// `llmops`: the command line of the engine. Argument parsing only; the work is in cmd_*.cpp.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>

#include "cli/commands.hpp"
#include "engine/exec/executor.hpp"
#include "engine/exec/fork_server.hpp"
#include "engine/exec/step_worker.hpp"

using namespace llmops::cli;

namespace {

// The folders `llmops NAME` looks in for an executable llmops-NAME, in order, before PATH.
std::vector<std::filesystem::path> command_dirs() {
  std::vector<std::filesystem::path> dirs;
  for (const auto& dir : llmops::engine::default_plugin_dirs()) {
    dirs.push_back(dir / ".." / "bin");
    dirs.push_back(dir);
  }
  return dirs;
}

// `llmops foo ...` runs `llmops-foo ...` from the plugin folders or PATH when foo is not a
// built-in command, the way git and kubectl run their plugins.
int run_external(int argc, char** argv) {
  const std::string name = std::string("llmops-") + argv[1];
  std::vector<std::string> candidates;
  for (const auto& dir : command_dirs()) candidates.push_back((dir / name).string());
  std::vector<char*> args{const_cast<char*>(name.c_str())};
  for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  for (const auto& c : candidates)
    if (access(c.c_str(), X_OK) == 0) execv(c.c_str(), args.data());
  execvp(name.c_str(), args.data());
  return -1;  // not found
}

// The footer of `llmops --help`: the commands plugins ship as llmops-NAME executables, found where
// run_external() looks (the plugin folders, then PATH). The ones this repository builds always
// have a line, marked when absent; others are listed by name (`llmops NAME --help` says more).
std::string plugin_commands_help(CLI::App& app) {
  namespace fs = std::filesystem;
  static const std::map<std::string, std::string> known = {
      {"deployments", "Running model servers and their history: list, show, rollback, stop"},
      {"model", "Inspect, check and sample a trained model: info, check, generate"},
      {"serve", "The OpenAI-compatible model server (what deployer/http starts)"},
      {"tokenizer", "Encode and decode text with a Hugging Face tokenizer.json"}};
  std::set<std::string> builtin;
  for (const CLI::App* sub : app.get_subcommands({})) builtin.insert(sub->get_name());
  std::vector<fs::path> dirs = command_dirs();
  if (const char* path = std::getenv("PATH")) {
    std::string p = path;
    for (size_t start = 0, end; start <= p.size(); start = end + 1) {
      end = p.find(':', start);
      if (end == std::string::npos) end = p.size();
      if (end > start) dirs.emplace_back(p.substr(start, end - start));
    }
  }
  std::map<std::string, fs::path> found;  // the first of each name wins, as when running it
  for (const auto& dir : dirs) {
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string file = it->path().filename().string();
      // Plugin libraries (llmops-plugin-*.so) sit in the same folders: a command has no dot.
      if (file.rfind("llmops-", 0) != 0 || file.size() <= 7 || file.find('.') != file.npos)
        continue;
      const std::string name = file.substr(7);
      std::error_code fec;
      if (builtin.count(name) || !fs::is_regular_file(it->path(), fec) ||
          access(it->path().c_str(), X_OK) != 0)
        continue;
      found.emplace(name, it->path());
    }
  }
  std::set<std::string> names;
  for (const auto& [name, _] : known) names.insert(name);
  for (const auto& [name, _] : found) names.insert(name);
  std::string out =
      "Plugin commands (`llmops NAME` runs the executable llmops-NAME from the plugin folders or "
      "PATH):\n";
  for (const auto& name : names) {
    std::string line = "  " + name;
    line += std::string(line.size() < 30 ? 30 - line.size() : 1, ' ');
    auto k = known.find(name);
    auto f = found.find(name);
    if (k != known.end()) {
      line += k->second;
      if (f == found.end()) line += " (not installed)";
    } else {
      line += f->second.string();
    }
    out += line + "\n";
  }
  return out;
}

// The exit of a command that ran steps. An in-process attempt abandoned to a plugin that ignores
// cancellation may still be running: the process ends without static destructors (or library
// unloading) under it. Everything the engine recorded is committed already; in-process steps
// share the engine's fate (docs/operations.md).
int leave(int rc) {
  if (llmops::engine::ThreadedExecutor::attempts_running() == 0) return rc;
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(rc);
}

}  // namespace

int main(int argc, char** argv) {
  // OpenMP threads of in-process or worker plugins (libtorch) otherwise spin-wait against each
  // other on a busy machine, up to 50 times slower; it is read when such a library loads.
  setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
  CLI::App app{"llmops: a workflow engine for the LLMOps lifecycle"};
  app.set_version_flag("--version", std::string("llmops ") + LLMOPS_VERSION);
  app.require_subcommand(1);

  ValidateArgs va;
  auto* validate = app.add_subcommand("validate", "Check a pipeline file; print every problem");
  validate->add_option("file", va.file, "Pipeline YAML file")->required();
  validate->add_option("-p,--param", va.params, "Override a parameter: key=value");
  validate->add_flag("--json", va.json, "Machine-readable output");

  RunArgs ra;
  auto* run = app.add_subcommand("run", "Run a pipeline");
  run->add_option("file", ra.file, "Pipeline YAML file")->required();
  run->add_option("-p,--param", ra.params, "Override a parameter: key=value");
  run->add_option("--max-parallel", ra.max_parallel, "Steps at once (default: cores)");
  run->add_flag("--no-cache", ra.no_cache, "Run every step even when its result is cached");
  run->add_flag("--dry-run", ra.dry_run, "Validate and print the plan; record nothing");
  run->add_flag("--fail-fast", ra.fail_fast, "Cancel everything on the first failure");
  run->add_flag("--json", ra.json, "Print the summary as JSON (progress goes to stderr)");
  // Internal, for the runs the scheduler starts: the trigger (cron | watch) and its details.
  run->add_option("--trigger", ra.trigger)->group("");
  run->add_option("--trigger-info", ra.trigger_info)->group("");

  ResumeArgs rs;
  auto* resume = app.add_subcommand("resume", "Continue a failed or interrupted run");
  resume->add_option("run", rs.run, "Run id")->required();
  resume->add_option("--max-parallel", rs.max_parallel, "Steps at once (default: cores)");
  resume->add_flag("--no-cache", rs.no_cache, "Do not reuse cached results");
  resume->add_flag("--json", rs.json, "Print the summary as JSON");

  ListArgs rl;
  auto* runs = app.add_subcommand("runs", "List recent runs");
  runs->add_option("-n,--limit", rl.limit, "How many");
  runs->add_flag("--json", rl.json, "Machine-readable output");

  ShowArgs sa;
  auto* show = app.add_subcommand("show", "Show a run: steps, attempts, artifacts, metrics");
  show->add_option("run", sa.run, "Run id")->required();
  show->add_flag("--json", sa.json, "Machine-readable output");
  show->add_option("--steps-offset", sa.steps_offset, "Skip this many steps (plan order)")
      ->check(CLI::Range(0, 1000000000));
  show->add_option("--steps-limit", sa.steps_limit, "Show at most this many steps (default: all)")
      ->check(CLI::Range(0, 1000000000));

  LogsArgs la;
  auto* logs = app.add_subcommand("logs", "Print a step's log");
  logs->add_option("run", la.run, "Run id")->required();
  logs->add_option("step", la.step, "Step name")->required();

  GraphArgs ga;
  auto* graph = app.add_subcommand("graph", "Print a pipeline's DAG");
  graph->add_option("file", ga.file, "Pipeline YAML file")->required();
  graph->add_option("--format", ga.format, "dot or mermaid")
      ->check(CLI::IsMember({"dot", "mermaid"}));

  LineageArgs lg;
  auto* lineage = app.add_subcommand("lineage", "Where an artifact came from, or what used it");
  lineage->add_option("ref", lg.ref, "Artifact digest prefix, run id, or RUN:STEP")->required();
  lineage->add_flag("--upstream", lg.upstream, "Walk to the producers (default)");
  lineage->add_flag("--downstream", lg.downstream, "Walk to the consumers");
  lineage->add_option("--depth", lg.depth, "Execution hops at most")->check(CLI::Range(1, 1000));
  lineage->add_option("--format", lg.format, "text, json or dot")
      ->check(CLI::IsMember({"text", "json", "dot"}));

  ListArgs al;
  auto* artifacts = app.add_subcommand("artifacts", "List artifacts in the store");
  artifacts->add_option("-n,--limit", al.limit, "How many");
  artifacts->add_flag("--json", al.json, "Machine-readable output");

  PluginArgs pa;
  auto* plugins = app.add_subcommand("plugins", "Installed plugins");
  plugins->require_subcommand(1);
  auto* plist = plugins->add_subcommand("list", "List plugins");
  plist->add_flag("--json", pa.json, "Machine-readable output");
  auto* pdesc = plugins->add_subcommand("describe", "Parameters, inputs and outputs of a plugin");
  pdesc->add_option("name", pa.name, "kind/name")->required();
  pdesc->add_flag("--json", pa.json, "Machine-readable output");
  PluginCheckArgs pca;
  auto* pcheck = plugins->add_subcommand(
      "check", "Step-protocol conformance run of an executable plugin folder");
  pcheck->add_option("dir", pca.dir, "The plugin folder (with llmops-plugin.yaml)")->required();
  pcheck->add_option("--params", pca.params, "Parameters for the runs, as a JSON object");
  pcheck->add_option("--input", pca.inputs,
                     "NAME=PATH for an input (dataset inputs get a sample when not given)");
  pcheck->add_option("--timeout", pca.timeout_s, "Seconds the real run may take (default 60)");
  pcheck->add_flag("--json", pca.json, "Machine-readable output");
  PluginNewArgs pna;
  auto* pnew = plugins->add_subcommand("new", "Scaffold a plugin folder with a test");
  pnew->add_option("name", pna.name, "kind/name, e.g. curator/my-filter")->required();
  pnew->add_option("--lang", pna.lang, "python (an executable plugin) or cpp (a library)")
      ->check(CLI::IsMember({"python", "cpp"}));
  pnew->add_option("--dir", pna.dir, "Where to create it (default: ./NAME)");

  add_schedule_commands(app);
  add_ops_commands(app);
  add_ui_command(app);

  GcArgs gca;
  auto* gc = app.add_subcommand("gc", "Remove old runs and the blobs only they used");
  gc->add_option("--keep-runs", gca.keep_runs, "Newest runs kept per pipeline (default 10)")
      ->check(CLI::Range(0, 1000000000));
  gc->add_flag("--dry-run", gca.dry_run, "Print what would be removed; remove nothing");
  gc->add_flag("--json", gca.json, "Machine-readable output");
  gc->add_option("--orphan-grace", gca.orphan_grace_s,
                 "Seconds before a blob no artifact names may go (default 3600)")
      ->check(CLI::Range(0.0, 1e9));
  app.footer([&app] { return plugin_commands_help(app); });

  // Internal: the worker of the subprocess executor (protocol on fd 3).
  if (argc == 3 && std::string(argv[1]) == "exec-step")
    return llmops::engine::exec_step_main(argv[2], 3);
  // Internal: forks those workers warm (engine/exec/fork_server.hpp; control socket on fd 3).
  if (argc == 2 && std::string(argv[1]) == "fork-server")
    return llmops::engine::fork_server_main(3);

  // Internal: prints one library's descriptor as JSON (run by the plugin scanner).
  if (argc == 3 && std::string(argv[1]) == "scan-plugin") {
    auto info = llmops::engine::PluginHost::read_descriptor(argv[2]);
    nlohmann::json j = info ? llmops::engine::plugin_info_to_json(info.value())
                            : nlohmann::json{{"error", info.status().message()}};
    std::cout << j.dump() << "\n";
    return 0;
  }

  if (argc >= 2 && argv[1][0] != '-') {
    static const std::set<std::string> builtin = {
        "validate",  "run",     "resume",   "runs",      "show",   "logs", "graph", "lineage",
        "artifacts", "plugins", "schedule", "scheduler", "cancel", "fsck", "gc",    "ui"};
    if (!builtin.count(argv[1])) {
      run_external(argc, argv);
      // Fall through: CLI11 prints the usual "unknown command" help.
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kExitInvalid;
  }

  if (*validate) return cmd_validate(va);
  if (*run) return leave(cmd_run(ra));
  if (*resume) return leave(cmd_resume(rs));
  if (*runs) return cmd_runs(rl);
  if (*show) return cmd_show(sa);
  if (*logs) return cmd_logs(la);
  if (*graph) return cmd_graph(ga);
  if (*lineage) return cmd_lineage(lg);
  if (*artifacts) return cmd_artifacts(al);
  if (*plist) return cmd_plugins_list(pa);
  if (*pdesc) return cmd_plugins_describe(pa);
  if (*pcheck) return cmd_plugins_check(pca);
  if (*pnew) return cmd_plugins_new(pna);
  if (*gc) return cmd_gc(gca);
  if (int rc = run_schedule_commands(); rc >= 0) return rc;
  if (int rc = run_ops_commands(); rc >= 0) return rc;
  if (int rc = run_ui_command(); rc >= 0) return rc;
  return kExitInvalid;
}
