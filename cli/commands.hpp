// The subcommands of `llmops`, each a function from parsed arguments to an exit code.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/common.hpp"

namespace CLI {
class App;
}

namespace llmops::cli {

struct ValidateArgs {
  std::string file;
  std::vector<std::string> params;
  bool json = false;
};
struct RunArgs {
  std::string file;
  std::vector<std::string> params;
  int max_parallel = 0;
  bool no_cache = false, dry_run = false, fail_fast = false, json = false;
  // Set by `llmops scheduler` for the runs it starts: recorded as the run's trigger and info.
  std::string trigger, trigger_info;
};
struct ResumeArgs {
  int64_t run = 0;
  int max_parallel = 0;
  bool no_cache = false, json = false;
};
struct GraphArgs {
  std::string file;
  std::string format = "dot";
};
struct ListArgs {
  int limit = 50;
  bool json = false;
};
struct ShowArgs {
  int64_t run = 0;
  bool json = false;
  int64_t steps_offset = 0;  // --steps-offset: the first step shown (0-based, plan order)
  int64_t steps_limit = -1;  // --steps-limit: how many steps (< 0: all)
};
struct LogsArgs {
  int64_t run = 0;
  std::string step;
};
struct LineageArgs {
  std::string ref;
  bool upstream = false, downstream = false;
  int depth = 20;
  std::string format = "text";
};
struct PluginArgs {
  std::string name;
  bool json = false;
};

struct PluginCheckArgs {
  std::string dir;
  std::string params;               // JSON object
  std::vector<std::string> inputs;  // NAME=PATH
  double timeout_s = 60;            // for the real run
  bool json = false;
};

struct PluginNewArgs {
  std::string name;  // kind/name
  std::string lang = "python";
  std::string dir;  // default: ./NAME
};

struct GcArgs {
  int keep_runs = 10;
  bool dry_run = false, json = false;
  double orphan_grace_s = 3600;
};

struct SchedulerArgs {
  std::string dir = "pipelines";
  double poll_s = 5;
};

int cmd_validate(const ValidateArgs& a);
int cmd_run(const RunArgs& a);
int cmd_resume(const ResumeArgs& a);
int cmd_graph(const GraphArgs& a);
int cmd_runs(const ListArgs& a);
int cmd_show(const ShowArgs& a);
int cmd_logs(const LogsArgs& a);
int cmd_lineage(const LineageArgs& a);
int cmd_artifacts(const ListArgs& a);
int cmd_plugins_list(const PluginArgs& a);
int cmd_plugins_describe(const PluginArgs& a);
int cmd_plugins_check(const PluginCheckArgs& a);  // cli/cmd_plugins_check.cpp
int cmd_plugins_new(const PluginNewArgs& a);      // cli/cmd_plugins_new.cpp
int cmd_scheduler(const SchedulerArgs& a);        // cli/cmd_scheduler.cpp
int cmd_gc(const GcArgs& a);                      // cli/cmd_gc.cpp

// `schedule next|list` and `scheduler` (cli/cmd_schedule.cpp): registered on `app`; after parsing,
// run_schedule_commands() runs the one given and returns its exit code, or -1 when none was.
void add_schedule_commands(CLI::App& app);
int run_schedule_commands();

// `cancel` and `fsck` (cli/cmd_ops.cpp), registered and run the same way.
void add_ops_commands(CLI::App& app);
int run_ops_commands();

// `ui` (cli/cmd_ui.cpp), registered and run the same way.
void add_ui_command(CLI::App& app);
int run_ui_command();

// The rows of `schedule list --json` for the pipelines in `dir` (cli/cmd_schedule.cpp); files
// that do not load are left out, their diagnostics added to `problems`.
Result<nlohmann::json> schedule_list_json(const std::filesystem::path& dir, store::Store* store,
                                          std::vector<std::string>* problems);

}  // namespace llmops::cli
