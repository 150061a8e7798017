#include "store/checkpointer.hpp"

#include <chrono>

namespace llmops::store::detail {

Checkpointer::Checkpointer(sqlite3* db, std::filesystem::path db_path, int soft_frames,
                           int hard_frames)
    : db_(db), path_(std::move(db_path)), soft_(soft_frames), hard_(hard_frames) {
  sqlite3_wal_hook(db_, &Checkpointer::on_commit, this);  // replaces the automatic checkpoint
}

Checkpointer::~Checkpointer() {
  sqlite3_wal_hook(db_, nullptr, nullptr);
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int Checkpointer::on_commit(void* self_ptr, sqlite3* db, const char* schema, int frames) {
  auto* self = static_cast<Checkpointer*>(self_ptr);
  if (frames < self->checkpointed_) self->checkpointed_ = 0;  // the log has started over
  if (frames >= self->hard_) {
    // Inline, as SQLite's own hook does: what is left to copy is the tail since the background
    // checkpoint. A background checkpoint still copying would make this one return busy and let
    // the log grow for as long as the disk is slow, so wait for it first (bounded: another
    // process's checkpoint is not waited for, and a busy result is not an error here).
    {
      std::unique_lock lock(self->mu_);
      self->cv_.wait_for(lock, std::chrono::seconds(10), [&] { return !self->copying_; });
    }
    int log = 0, done = 0;
    sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    self->checkpointed_ = 0;
    return SQLITE_OK;
  }
  if (frames - self->checkpointed_ < self->soft_) return SQLITE_OK;
  self->checkpointed_ = frames;
  {
    std::lock_guard lock(self->mu_);
    self->wanted_ = true;
    if (!self->thread_.joinable()) self->thread_ = std::thread([self] { self->loop(); });
  }
  self->cv_.notify_all();
  return SQLITE_OK;
}

void Checkpointer::loop() {
  sqlite3* conn = nullptr;
  if (sqlite3_open_v2(path_.c_str(), &conn, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    sqlite3_close(conn);
    conn = nullptr;  // the hard limit still bounds the log
  }
  if (conn) {
    sqlite3_busy_timeout(conn, 1000);
    // A connection sees the log only once it has read the database.
    sqlite3_exec(conn, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
  }
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return wanted_ || stop_; });
    if (stop_) break;
    wanted_ = false;
    copying_ = true;
    lock.unlock();
    if (conn) sqlite3_wal_checkpoint_v2(conn, "main", SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    lock.lock();
    copying_ = false;
    cv_.notify_all();
  }
  sqlite3_close(conn);
}

}  // namespace llmops::store::detail
