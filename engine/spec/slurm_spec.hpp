// The `slurm:` mapping of a pipeline (on `defaults:` and on a step): what a step asks of Slurm when
// it runs under `executor: slurm` (engine/exec/slurm_executor.hpp).
//
//   slurm:
//     partition: gpu          # --partition
//     account: ml             # --account
//     qos: normal             # --qos
//     time: 2h                # --time; a duration as for `timeout:` (default: the step's timeout)
//     constraint: a100        # --constraint
//     nodes: 2                # --nodes
//     ntasks_per_node: 4      # --ntasks-per-node
//     extra_args: [--exclusive, --mail-type=END]   # passed as they are, but never an option
//                                                  # the executor sets itself (slurm_owned_option)
//
// The loader checks it (keys, types, extra_args) and keeps it as JSON; the plan merges a step's
// over the defaults' (slurm_merge). Stateless; thread-safe.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace llmops::engine {

// The keys `slurm:` accepts, in the order the docs list them.
const std::vector<std::string>& slurm_keys();

// Why `arg` may not be in extra_args ("" when it may): not a long option ("--name[=value]"), or an
// option the executor sets itself (job name, output, resources, time, partition...).
std::string slurm_extra_arg_problem(const std::string& arg);

// `over` on top of `base`: keys of `over` win; extra_args are concatenated (base first).
nlohmann::json slurm_merge(const nlohmann::json& base, const nlohmann::json& over);

}  // namespace llmops::engine
