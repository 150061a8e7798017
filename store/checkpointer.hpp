// Checkpointer: keeps WAL checkpoints off the writer's path. Internal to store/.
//
// SQLite's automatic checkpoint runs inside the COMMIT that crosses the threshold, and most of
// its cost is syncing the log to disk: with a run committing every few tens of microseconds that
// adds up to a third of the engine's per-step time. Instead, the connection's WAL hook wakes a
// thread with its own connection, which copies the log into the database with a PASSIVE
// checkpoint (writers and readers carry on meanwhile) each time `soft` new frames have
// accumulated. Under a steady stream of commits a background checkpoint never catches up with the
// last frame, so the log could not restart; when it reaches `hard` frames the committing
// connection waits for a background checkpoint in progress and then checkpoints itself, which by
// then only has the short tail left to sync and copy, and the next write starts the log over.
#pragma once

#include <sqlite3.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

namespace llmops::store::detail {

class Checkpointer {
 public:
  // Installs itself as `db`'s WAL hook. Destroy before closing `db`.
  Checkpointer(sqlite3* db, std::filesystem::path db_path, int soft_frames, int hard_frames);
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

 private:
  static int on_commit(void* self, sqlite3* db, const char* schema, int frames);
  void loop();

  sqlite3* db_;
  std::filesystem::path path_;
  int soft_, hard_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wanted_ = false, stop_ = false;
  bool copying_ = false;  // the background thread is checkpointing (guarded by mu_)
  int checkpointed_ = 0;  // log frames copied by the last checkpoint (the hook's thread only)
  std::thread thread_;    // started at the first checkpoint wanted
};

}  // namespace llmops::store::detail
