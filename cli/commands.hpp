// The subcommands of `llmops`, each a function from parsed arguments to an exit code.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/common.hpp"

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

}  // namespace llmops::cli
