// RunLease: this process owns a run while it executes it (DESIGN.md "The store").
//
// Two engines on one run (two `llmops resume N`, or a resume while the first engine still runs)
// would both execute its steps into one work folder. A lease row in the store names the owner
// (pid, the process's start time, host) and carries a heartbeat; a second engine is refused with
// a message naming the first. An owner is gone when, on this host, its process no longer runs
// (pid and start time: a reused pid is not mistaken for it), or, on another host, its heartbeat
// is older than `stale_s`; its lease is then taken over in the same transaction that checks it.
// The heartbeat thread also carries `llmops cancel` from another process: it sets the run's
// interrupt flag, and the run loop cancels and records every step as it does for Ctrl-C.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "store/store.hpp"

namespace llmops::engine {

struct LeaseOptions {
  double heartbeat_s = 1.0;
  double stale_s = 30.0;  // another host's owner is gone after this long without a heartbeat
};

// Whether a recorded owner still runs, seen from this host at unix time `now`.
bool owner_alive(const store::RunOwner& owner, const LeaseOptions& options, double now);
// "pid 123 on host h (heartbeat 0.4 s ago)".
std::string describe_owner(const store::RunOwner& owner, double now);
// Why a second engine may not execute run `run_id` while `owner` does (the message users see).
std::string owner_refusal(int64_t run_id, const store::RunOwner& owner, double now);
// This process as an owner, with a fresh token.
store::RunOwner this_process_owner();

class RunLease {
 public:
  // Takes the run for this process, or fails (failed_precondition) naming the live owner.
  // `interrupt` is set when a cancel is requested or the lease is lost.
  static Result<std::unique_ptr<RunLease>> acquire(store::Store& store, int64_t run_id,
                                                   std::shared_ptr<std::atomic<bool>> interrupt,
                                                   LeaseOptions options = {});
  // Stops the heartbeat and gives the run up (its row goes). Call once the run stops; a lease
  // dropped without it stops beating and is taken over once its process is gone.
  Status release();
  ~RunLease();
  RunLease(const RunLease&) = delete;
  RunLease& operator=(const RunLease&) = delete;

  bool cancel_requested() const { return cancel_requested_; }
  bool lost() const { return lost_; }

 private:
  RunLease(store::Store& store, int64_t run_id, std::string token,
           std::shared_ptr<std::atomic<bool>> interrupt, LeaseOptions options);
  void beat();
  void stop_beating();

  store::Store& store_;
  const int64_t run_id_;
  const std::string token_;
  std::shared_ptr<std::atomic<bool>> interrupt_;
  const LeaseOptions options_;
  std::atomic<bool> cancel_requested_{false}, lost_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace llmops::engine
