// SlurmExecutor (`executor: slurm`): each attempt of a step is a Slurm batch job that runs the
// step worker (`llmops exec-step`, engine/exec/step_worker.hpp) on a compute node against the same
// store, so the engine, the store and lineage stay as they are.
//
// submit() writes the attempt's request and the job script into its work folder (which, like all
// of LLMOPS_HOME, must be on a filesystem the nodes share) and calls `sbatch --parsable`; the job
// id is the attempt's external id ("slurm:<id>"), recorded in the store. One poller thread follows
// every job of the executor with one `squeue` call per round (then `scontrol show job`, then
// `sacct` where accounting is there, for jobs squeue no longer lists), at an interval that grows
// with the age of the youngest job. It relays the worker's progress and log lines from the events
// file as they come, reports each job's node and state (on_placement), and completes the attempt
// when the job ends: with the worker's result, or with the Slurm state mapped to a reason
// (engine/exec/slurm_cli.hpp). A job that ends without leaving its start marker never reached the
// store; a job that no command knows any more is failed after a bounded wait.
//
// Jobs outlive the engine: reattach() follows a job an engine now gone submitted, by its id. The
// destructor stops following but cancels nothing; cancel() and abandon() scancel. Thread safety:
// the Executor contract (engine/exec/executor.hpp).
#pragma once

#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/exec/executor.hpp"

namespace llmops::engine {

struct SlurmOptions {
  // The llmops binary the jobs run (`exec-step`): installed at this path on every node.
  std::filesystem::path worker;
  double poll_min_s = 0.2;  // first polls of a new job
  double poll_max_s = 5.0;  // a long job is polled this seldom at most
  double vanish_s = 30;     // a job no command knows is failed after this long
  double marker_s = 30;     // a running job must leave its start marker within this
  double command_s = 30;    // a Slurm command that takes longer is killed
  int resubmits = 2;        // NODE_FAIL / PREEMPTED / BOOT_FAIL jobs submitted again, at most
  // From the environment: LLMOPS_SLURM_WORKER, LLMOPS_SLURM_POLL_MAX, LLMOPS_SLURM_VANISH,
  // LLMOPS_SLURM_MARKER_WAIT (seconds).
  static SlurmOptions from_env(std::filesystem::path default_worker);
};

class SlurmExecutor : public Executor {
 public:
  explicit SlurmExecutor(SlurmOptions options);
  ~SlurmExecutor() override;

  Status preflight() override;
  Result<std::string> submit(uint64_t token, std::shared_ptr<StepRequest> request,
                             std::shared_ptr<CompletionSink> sink) override;
  void cancel(uint64_t token, StepRequest& request) override;
  void abandon(uint64_t token) override;
  Status reattach(uint64_t token, std::shared_ptr<StepRequest> request,
                  const std::string& external_id, std::shared_ptr<CompletionSink> sink) override;

  // How many sbatch calls this executor made (for tests and benchmarks).
  int submissions() const;

 private:
  struct Job;
  Result<std::string> sbatch(const StepRequest& request);
  void watch(uint64_t token, std::shared_ptr<Job> job);
  void poll_loop();
  void poll_round();
  // Reads new protocol lines of the job's events file.
  void read_events(Job& job);
  // What the job became; true when it is over (then its completion has been delivered).
  bool settle(uint64_t token, Job& job, double now);
  void finish(uint64_t token, Job& job, StepResult result);
  // scancel (with SIGKILL when `kill`); best effort.
  void scancel(const std::vector<std::string>& ids, bool kill);

  SlurmOptions opt_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool fresh_ = false;  // a job was added since the poller last looked
  std::map<uint64_t, std::shared_ptr<Job>> jobs_;
  int submissions_ = 0;
  std::thread poller_;
};

}  // namespace llmops::engine
