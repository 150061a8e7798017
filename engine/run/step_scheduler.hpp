// StepScheduler: which step of a run to start, cancel, abandon or skip next; no threads, clock or
// I/O inside (the cron and watch scheduler is engine/triggers/, a different thing).
//
// The RunLoop (engine/run/run_loop.hpp) feeds it the current time and step outcomes and carries out
// the actions it returns: start a step, cancel one (timeout or fail-fast), abandon one that ignored
// cancellation past its grace period, skip one whose upstream did not succeed. Keeping the core
// pure lets tests drive parallel limits, retries with back-off, timeouts and skip propagation with
// a fake clock and no sleeps. Not thread-safe: one owner.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/spec/pipeline.hpp"
#include "store/states.hpp"

namespace llmops::engine {

// The store's State: what the scheduler decides is what the store records, without a mapping.
// to_string, is_terminal and is_success come with it (store/states.hpp).
using StepState = store::State;

struct SchedStep {
  std::string name;
  std::vector<int> needs;  // indices of upstream steps
  RetryPolicy retries;
  double timeout_s = 0;  // 0: none
  Resources resources;
};

struct SchedOptions {
  int max_parallel = 1;
  bool fail_fast = false;
  double grace_s = 5.0;         // after a timeout's cancel, before the step is abandoned
  double cpu_capacity = 0;      // 0: unlimited
  int gpu_capacity = 0;         // steps asking for more than there is run alone
  int64_t memory_capacity = 0;  // 0: unlimited
  uint64_t seed = 0;            // jitter
};

struct SchedAction {
  enum Type { kStart, kCancel, kAbandon, kSkip } type;
  int step = -1;
  int attempt = 0;     // kStart: 1-based attempt number
  std::string reason;  // kCancel/kAbandon/kSkip: why
};

// What happened after a step finished: its new state and, when retrying, when.
struct FinishResult {
  StepState state;
  std::optional<double> retry_at;
  double retry_delay = 0;
};

class StepScheduler {
 public:
  StepScheduler(std::vector<SchedStep> steps, SchedOptions options);

  // For resume: a step already done in an earlier attempt of the run.
  void preset(int step, StepState state);
  // For resume: attempts already made, so numbering continues (the next start is attempts + 1).
  void set_attempts(int step, int attempts) { info_[step].attempt = attempts; }

  // Everything to do at time `now`. Start actions move their step to running.
  std::vector<SchedAction> poll(double now);
  // A started step finished. `ok`: it succeeded; `cancelled`: it stopped because we asked.
  // `retryable` false (bad input, a permanent failure): failed without using the retries left.
  FinishResult on_finished(int step, bool ok, bool cancelled, double now, bool retryable = true);
  // The step's `when:` was false: skipped, and so are its downstream steps.
  void mark_skipped(int step);
  // Cancel everything (Ctrl-C): running steps get kCancel from the next poll; pending ones end.
  void cancel_all(const std::string& reason);
  // For resume: an attempt an earlier engine started is still running (reattached); its timeout
  // counts from `now`.
  void adopt(int step, int attempt, double now);

  std::optional<double> next_deadline() const;
  bool finished() const;
  bool any_failed() const;
  StepState state(int step) const { return info_[step].state; }
  int attempts(int step) const { return info_[step].attempt; }
  size_t size() const { return steps_.size(); }
  int running_count() const { return running_; }

 private:
  struct Info {
    StepState state = StepState::kPending;
    int attempt = 0;
    double ready_at = 0;    // retry back-off
    double deadline = 0;    // timeout (0: none)
    double abandon_at = 0;  // after cancel (0: not cancelled)
    bool cancel_sent = false;
    std::string cancel_reason;
  };
  double backoff(const RetryPolicy& p, int attempt);
  bool fits(int step) const;
  bool oversized(int step) const;
  void take(int step, int sign);
  FinishResult fail_or_retry(int step, double now);
  // Bookkeeping that keeps poll() proportional to the steps that changed, not to the pipeline.
  void on_success(int step);
  void on_dead(int step);  // failed, skipped or cancelled: its downstream will be skipped
  void set_running(int step, bool running);

  std::vector<SchedStep> steps_;
  std::vector<Info> info_;
  SchedOptions opt_;
  std::mt19937_64 rng_;
  int running_ = 0;
  double cpus_used_ = 0;
  int gpus_used_ = 0;
  int64_t memory_used_ = 0;
  int oversized_running_ = 0;
  std::vector<std::vector<int>> down_;  // direct downstream steps
  std::vector<int> unmet_;              // needs not yet succeeded
  std::set<int> ready_;                 // pending with every need met (maybe backing off)
  std::set<int> running_set_;
  std::vector<std::pair<int, std::string>> skip_queue_;
  bool stop_all_ = false;
  bool stop_applied_ = false;
  std::string stop_reason_;
  std::vector<SchedAction> pending_cancels_;
};

}  // namespace llmops::engine
