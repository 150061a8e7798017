// The live feed behind /api/events: one thread polls the store's change counter (PRAGMA
// data_version: microseconds, and only another connection's commit moves it); when it moved it
// reads the runs that are new or active and the steps of the active ones, compares them with what
// it saw last, and appends what changed to a ring of events. Ids are "<epoch>-<seq>", the epoch
// random per start, so a client that comes back after a restart is told to resync. The engine
// pays nothing: readers never block SQLite's writer.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "store/store.hpp"

namespace llmops::ui {

struct FeedEvent {
  int64_t seq = 0;
  int64_t run = 0;   // the run it is about
  std::string name;  // run | step | fatal
  std::string data;  // JSON
};

class Feed {
 public:
  // `open` makes a reader of the store (nullptr and a message when there is none yet).
  using Opener = std::function<Result<std::unique_ptr<store::Store>>()>;
  Feed(Opener open, std::chrono::milliseconds interval, size_t ring = 20000);
  ~Feed();
  void start();
  void stop();

  // The id of the newest event ("<epoch>-<seq>"): a snapshot taken after reading it misses
  // nothing that a stream opened from it then replays. Before the feed first saw the store, it
  // looks now, so that what it learns silently is not newer than the snapshot.
  std::string cursor();
  // The sequence number in `id`: nullopt when it is not this feed's (another epoch, garbage) or
  // older than the ring keeps.
  std::optional<int64_t> parse_id(const std::string& id);
  std::string id_of(int64_t seq) const { return epoch_ + "-" + std::to_string(seq); }

  // Events after `after` (about `run`, or runs only when run == 0), waiting up to `wait` for one;
  // `scanned` is the newest sequence number looked at (continue after it). When events after
  // `after` were dropped from the ring, the one event returned is a `resync`.
  std::vector<FeedEvent> wait_after(int64_t after, int64_t run, std::chrono::milliseconds wait,
                                    int64_t& scanned);
  // The last fatal problem (schema changed under us), "" when none.
  std::string fatal();
  // Looks at the store now (the thread does every interval; cursor() before the first).
  void poll_once();

 private:
  struct StepSeen {
    std::string name, state, reason;
    int attempts = 0;
    double started_at = 0, ended_at = 0;
  };
  void loop();
  void poll_locked();  // under poll_mu_
  void push(int64_t run, const std::string& name, std::string data);

  Opener open_;
  std::chrono::milliseconds interval_;
  size_t ring_size_;
  std::string epoch_;
  std::unique_ptr<store::Store> reader_;
  std::optional<int64_t> last_version_;
  int64_t max_run_ = -1;  // -1: first poll (learn, emit nothing)
  double max_ended_ = 0;  // the latest ended_at seen: a run that ends later changed since
  std::map<int64_t, std::string> run_state_;        // the active runs, by the state last seen
  std::map<int64_t, std::vector<StepSeen>> steps_;  // in plan order, as list_steps gives them

  std::mutex poll_mu_;               // one poll at a time (the thread's, or cursor()'s first)
  std::atomic<bool> primed_{false};  // a first poll has seen the store
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<FeedEvent> ring_;
  int64_t seq_ = 0;
  std::string fatal_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace llmops::ui
