// libFuzzer target for what the Slurm executor reads from Slurm's commands
// (engine/exec/slurm_cli.cpp): any text as squeue, scontrol, sacct or sbatch output must parse
// or be skipped, never crash; each job parsed must map to a phase and a message.
//   see tests/fuzz/run_fuzzers.sh for the build command
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/exec/slurm_cli.hpp"

using namespace llmops::engine;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  StepRequest request;
  request.memory_limit = 1 << 20;
  request.timeout_s = 61;
  std::vector<SlurmJob> jobs = parse_squeue(text);
  for (auto& j : parse_sacct(text)) jobs.push_back(j);
  if (auto j = parse_scontrol_job(text)) jobs.push_back(*j);
  for (const auto& j : jobs) {
    (void)slurm_done(slurm_phase(j.state));
    (void)slurm_failure(j, request);
  }
  (void)parse_sbatch_id(text);
  return 0;
}
