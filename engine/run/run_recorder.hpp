// RunRecorder: everything the run loop writes to the store, for one run.
//
// "The store first": the loop records a decision before it acts on it, so a killed engine can
// resume without redoing finished work or losing lineage. The recorder keeps the first write
// error and refuses every write after it; the loop checks failed() after each round and ends the
// run (as failed, when that last write still goes through) instead of acting on decisions that
// were never recorded. Writes of one scheduling round go into one transaction (begin_round /
// commit_round): one commit per round instead of one per call; a round that is not committed
// (an error, a crash) leaves nothing behind. Tests derive from it to make the k-th write fail,
// the way a crash would. Not thread-safe: the run loop's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "store/store.hpp"

namespace llmops::engine {

class RunRecorder {
 public:
  RunRecorder(store::Store& store, int64_t run_id) : store_(store), run_id_(run_id) {}
  virtual ~RunRecorder() = default;

  int64_t run_id() const { return run_id_; }
  bool failed() const { return !error_.is_ok(); }
  const Status& error() const { return error_; }

  // One transaction for the writes until commit_round(). Without one (the store is busy with
  // another batch) each write commits on its own.
  void begin_round();
  Status commit_round();

  // Attempts left `running` by an engine now gone are recorded as failed ("interrupted"), but
  // for those in `keep` (reattached).
  Status fail_interrupted(const std::vector<int64_t>& keep = {});
  Status run_state(store::State state, const std::string& error = "");
  Result<int64_t> begin_attempt(const std::string& step, int attempt, const std::string& plugin_id,
                                const std::string& plugin_version, const std::string& plugin_digest,
                                const std::string& cache_key, const std::string& log_path);
  // The writes below return nothing: a failure is kept (failed(), error()), every later write is
  // refused, and the loop ends the run at the end of the round.
  void step_state(const std::string& step, store::State state, const std::string& reason = "");
  void external_id(int64_t execution_id, const std::string& external_id);
  void finish_attempt(int64_t execution_id, const store::ExecutionResult& result);
  // A `deployment` artifact also goes to the deployments table (and its history).
  void deployment(int64_t execution_id, const store::Event& event);

 protected:
  // Called before every write with its name; an error stops this write and every later one.
  virtual Status before_write(const char* what) { return Status::ok(); }

 private:
  // Runs `op` unless an earlier write failed; keeps its error. True when it was written.
  bool write(const char* what, const std::function<Status()>& op);

  store::Store& store_;
  int64_t run_id_;
  Status error_ = Status::ok();
  std::optional<store::Store::Batch> round_;
};

}  // namespace llmops::engine
