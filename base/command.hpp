// Running a short external command (a Slurm client: sbatch, squeue, scancel) and collecting what
// it printed, without a shell: argv goes to the program as it is, so no value can be read as
// shell syntax. Stateless; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "llmops/status.hpp"

namespace llmops::base {

struct CommandOutput {
  int exit_code = -1;  // -1 when killed by a signal (or by the time limit)
  int signal = 0;      // the signal that ended it, if one did
  std::string out, err;
  bool timed_out = false;
};

// Runs argv[0] (looked up on PATH) with stdin on /dev/null, for at most `timeout_s`; past it the
// command is killed and timed_out is set. An error only when it could not be started (not on
// PATH, not executable); a non-zero exit is an ordinary CommandOutput.
Result<CommandOutput> run_command(const std::vector<std::string>& argv, double timeout_s = 30);

// Where `program` is on PATH ("" when it is not there).
std::string find_on_path(const std::string& program);

}  // namespace llmops::base
