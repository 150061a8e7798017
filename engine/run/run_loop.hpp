// RunLoop: executes one recorded run of a Plan to its end.
//
// Each round: take the completions that arrived and record them; ask the StepScheduler what to
// do now (start, cancel, abandon, skip); resolve and record each start (templates, inputs, cache
// lookups, a new execution); commit the round; only then submit the started attempts to their
// executors ("the store first"); wait on the Clock for the next completion or deadline. On
// entry it restores what an earlier engine finished (resume): finished steps keep their outputs,
// attempts in flight are reattached through their executor where it can, else recorded as
// interrupted and retried. The loop owns no thread and reads no clock of its own: tests drive it
// with a fake Clock and a fake Executor (tests/engine/run/). One run per RunLoop; not
// thread-safe, except that RunEvent callbacks for progress come from step threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/exec/executor.hpp"
#include "engine/plan/plan.hpp"
#include "engine/run/clock.hpp"
#include "engine/run/run_recorder.hpp"
#include "engine/run/run_scope.hpp"
#include "engine/run/step_prep.hpp"
#include "engine/run/step_scheduler.hpp"
#include "store/store.hpp"

namespace llmops::engine {

struct RunEvent {
  // kRetry: an attempt failed and the step goes back to pending to try again; a state of its
  // own for whoever watches, though the store records it as pending.
  enum Type { kState, kRetry, kProgress, kLog } type = kState;
  std::string step;
  store::State state = store::State::kRunning;  // kState: the new one; kRetry: kPending
  int attempt = 0;
  std::string note;  // reason, progress note or log line
  double done = 0, total = 0;
};

struct RunSummary {
  int64_t run_id = 0;
  store::State state = store::State::kPending;  // succeeded | failed | cancelled once run
  std::map<std::string, store::State> step_states;
  std::vector<TriggerRecord> triggers;  // raised by monitor steps
  double seconds = 0;
};

struct RunLoopOptions {
  int max_parallel = 1;
  bool no_cache = false;
  bool fail_fast = false;
  double grace_s = 5.0;
  double cpu_capacity = 0;                        // 0: unlimited
  int64_t memory_capacity = 0;                    // 0: unlimited
  std::function<void(const RunEvent&)> on_event;  // must be thread-safe
  std::shared_ptr<std::atomic<bool>> interrupt;   // set (e.g. by SIGINT) to cancel the run
};

using ExecutorMap = std::map<std::string, std::shared_ptr<Executor>>;

class RunLoop {
 public:
  // `catalog` gives plugin digests (cache keys); `executors` must hold "inprocess".
  RunLoop(const Plan& plan, store::RunInfo run, store::Store& store, PluginCatalog& catalog,
          RunRecorder& recorder, const ExecutorMap& executors, Clock& clock,
          RunLoopOptions options);
  ~RunLoop();

  // Runs to the end. An error means the store could not be read or written: the run stopped
  // where it was (and is recorded as failed when the store still takes that write).
  Result<RunSummary> run();

 private:
  struct Flight;
  Status restore();
  std::shared_ptr<StepRequest> make_request(int step, int attempt);
  // An attempt in flight from now on, found by its token; returns the token.
  uint64_t track(int step, uint64_t token, int64_t execution_id,
                 std::shared_ptr<StepRequest> request, std::vector<store::Event> inputs,
                 Executor& executor);
  void launch(int step, int attempt);
  void dispatch();
  void finish(Completion& c);
  void apply(const SchedAction& action);
  void emit(RunEvent ev);
  Status end_round();
  Status stop(const Status& why);
  Executor& executor_for(int step);

  const Plan& plan_;
  store::RunInfo run_;
  store::Store& store_;
  PluginCatalog& catalog_;
  RunRecorder& rec_;
  const ExecutorMap& executors_;
  Clock& clock_;
  RunLoopOptions opt_;
  StepScheduler core_;
  RunScope scope_;
  StepPrep prep_;
  std::map<std::string, std::vector<store::Event>> extra_inputs_;
  std::shared_ptr<CompletionQueue> inbox_;
  std::map<uint64_t, std::unique_ptr<Flight>> flights_;  // by token
  std::vector<uint64_t> live_token_;                     // by step: its attempt in flight (0: none)
  std::vector<uint64_t> to_submit_;  // started this round; submitted once it is committed
  std::vector<std::pair<int64_t, store::Event>> deployments_;  // recorded after the commit
  uint64_t next_token_ = 1;
  bool interrupt_seen_ = false;
  std::filesystem::path run_dir_;
  RunSummary summary_;
};

// Folder of a run's logs and step work folders: <home>/runs/<id>.
std::filesystem::path run_dir(const std::filesystem::path& home, int64_t run_id);

}  // namespace llmops::engine
