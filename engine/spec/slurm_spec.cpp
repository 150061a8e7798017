#include "engine/spec/slurm_spec.hpp"

#include <algorithm>
#include <vector>

namespace llmops::engine {

const std::vector<std::string>& slurm_keys() {
  static const std::vector<std::string> kKeys = {
      "partition", "account",         "qos",       "time", "constraint",
      "nodes",     "ntasks_per_node", "extra_args"};
  return kKeys;
}

namespace {

// What the executor sets (from the keys above, `resources:` and its own bookkeeping), or what
// would break how it follows the job (waiting, arrays, holds, another environment).
const std::vector<std::pair<std::string, std::string>>& owned() {
  static const std::vector<std::pair<std::string, std::string>> kOwned = {
      {"job-name", "the executor names the job after the run and step"},
      {"comment", "the executor puts the run and step there"},
      {"output", "the job's output goes to the step log"},
      {"error", "the job's output goes to the step log"},
      {"input", "the step reads its request file"},
      {"open-mode", "the job's output goes to the step log"},
      {"chdir", "the job runs where the engine runs"},
      {"parsable", "the executor reads sbatch's answer itself"},
      {"wrap", "the executor writes the job script"},
      {"wait", "the executor follows the job without blocking"},
      {"test-only", "the job must really be submitted"},
      {"hold", "a held job would never start"},
      {"array", "one job runs one attempt"},
      {"dependency", "the engine orders the steps itself"},
      {"export", "the job needs the engine's environment (LLMOPS_HOME, plugin path)"},
      {"export-file", "the job needs the engine's environment (LLMOPS_HOME, plugin path)"},
      {"time", "use slurm.time (or the step's timeout)"},
      {"partition", "use slurm.partition"},
      {"account", "use slurm.account"},
      {"qos", "use slurm.qos"},
      {"constraint", "use slurm.constraint"},
      {"nodes", "use slurm.nodes"},
      {"ntasks-per-node", "use slurm.ntasks_per_node"},
      {"cpus-per-task", "use resources.cpus"},
      {"mem", "use resources.memory"},
      {"mem-per-cpu", "use resources.memory"},
      {"mem-per-gpu", "use resources.memory"},
      {"gpus", "use resources.gpus"},
      {"gres", "use resources.gpus"},
  };
  return kOwned;
}

}  // namespace

std::string slurm_extra_arg_problem(const std::string& arg) {
  if (arg.size() < 3 || arg.compare(0, 2, "--") != 0)
    return "'" + arg + "' is not a long option: write each as \"--name\" or \"--name=value\"";
  const std::string name =
      arg.substr(2, arg.find('=') == std::string::npos ? std::string::npos : arg.find('=') - 2);
  for (const auto& [opt, why] : owned()) {
    // sbatch takes unambiguous prefixes of long options: "--part" is --partition.
    if (name.size() >= 3 && opt.compare(0, name.size(), name) == 0)
      return "'" + arg + "' sets --" + opt + ", which the executor owns: " + why;
  }
  return "";
}

nlohmann::json slurm_merge(const nlohmann::json& base, const nlohmann::json& over) {
  nlohmann::json out = base.is_object() ? base : nlohmann::json::object();
  if (!over.is_object()) return out;
  for (auto it = over.begin(); it != over.end(); ++it) {
    if (it.key() == "extra_args" && out.contains("extra_args")) {
      for (const auto& a : it.value()) out["extra_args"].push_back(a);
    } else {
      out[it.key()] = it.value();
    }
  }
  return out;
}

}  // namespace llmops::engine
