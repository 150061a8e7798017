// What the Slurm executor (engine/exec/slurm_executor.hpp) says to Slurm's commands and reads back
// from them: sbatch's arguments for a step, and the job states printed by squeue, scontrol and
// sacct, mapped to what the step's attempt became. Pure functions over text; thread-safe. The
// parsers take whatever the commands print (fuzzed: tests/fuzz/fuzz_slurm.cpp).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/exec/executor.hpp"

namespace llmops::engine {

// One job as a Slurm command reported it.
struct SlurmJob {
  std::string id;  // "123"
  std::string
      state;  // "RUNNING", "OUT_OF_MEMORY", ... (the base state: "CANCELLED by 0" -> CANCELLED)
  std::string node;  // NodeList ("" or "(null)" before it runs -> "")
  std::string reason;
  int exit_code = -1;  // when known: of the batch script
  int signal = 0;
};

// `squeue -h -t all -j IDS -o %i|%T|%N|%r`: one job per line.
std::vector<SlurmJob> parse_squeue(const std::string& out);
// `scontrol show job -o ID`: one line of Key=Value pairs.
std::optional<SlurmJob> parse_scontrol_job(const std::string& out);
// `sacct -n -P -X -j IDS -o JobIDRaw,State,ExitCode,NodeList`: one job per line.
std::vector<SlurmJob> parse_sacct(const std::string& out);
// sbatch --parsable's answer: "123" or "123;cluster". nullopt when it is not a job id.
std::optional<std::string> parse_sbatch_id(const std::string& out);

// Where a job is in its life.
enum class SlurmPhase { kWaiting, kRunning, kSucceeded, kFailed, kRetryable, kCancelled };
SlurmPhase slurm_phase(const std::string& state);
bool slurm_done(SlurmPhase phase);
// Why a finished job did not succeed, for the step's error: "slurm: OUT_OF_MEMORY on node vm:
// the job used more memory than it asked for; raise resources.memory (now 64Mi)".
std::string slurm_failure(const SlurmJob& job, const StepRequest& request);

// Slurm's --time for `seconds`, rounded up to whole minutes ("D-HH:MM:00").
std::string slurm_time(double seconds);

// The paths a job uses, all under the attempt's work folder (which must be on a filesystem the
// nodes share).
struct SlurmJobFiles {
  std::filesystem::path script, request, events, marker;
};
SlurmJobFiles slurm_job_files(const StepRequest& request);
// The job script: the same text for every job (the paths are its arguments, never spliced into
// shell code). It refuses to run when the node cannot read the request (the store is not
// shared), leaves a marker the engine reads, and runs the step worker with the protocol on fd 3
// appended to the events file.
const std::string& slurm_job_script();
// sbatch's argv for `request`: options from `slurm:` and `resources:`, the job's name, comment
// and output, then the script and its arguments.
std::vector<std::string> sbatch_argv(const StepRequest& request, const SlurmJobFiles& files,
                                     const std::string& worker, const std::string& cwd);

}  // namespace llmops::engine
