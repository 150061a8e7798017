// The store's health: blob incidents (blob_incidents, schema version 6), the artifact rows that
// `llmops fsck` checks the blob store against, and SQLite's own integrity checks.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

#include "base/time.hpp"
#include "store/store_impl.hpp"

namespace llmops::store {

Status Store::record_blob_incident(const BlobIncident& in) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("record_blob_incident", [&]() -> Status {
    SQLite::Database& db = impl_->db;
    detail::WriteTx tx(db, impl_->batch);
    // A blob found missing again by the same run (its resume, then its cache lookup) is one
    // incident; each quarantine is its own.
    detail::Cached q(db,
                     "INSERT INTO blob_incidents(digest, found_at, problem, action, "
                     "quarantined_to, run_id, step) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 "
                     "WHERE ?5 <> '' OR NOT EXISTS (SELECT 1 FROM blob_incidents WHERE "
                     "digest = ?1 AND problem = ?3 AND run_id IS ?6 AND quarantined_to = '')");
    q.bind(1, in.digest);
    q.bind(2, base::unix_now());
    q.bind(3, in.problem);
    q.bind(4, in.action);
    q.bind(5, in.quarantined_to);
    if (in.run_id)
      q.bind(6, *in.run_id);
    else
      q.bind(6);
    q.bind(7, in.step);
    q.exec();
    tx.commit();
    return Status::ok();
  });
}

Result<std::vector<BlobIncident>> Store::list_blob_incidents(int limit) {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("list_blob_incidents", [&]() -> Result<std::vector<BlobIncident>> {
    detail::Cached q(impl_->db,
                     "SELECT id, digest, found_at, problem, action, quarantined_to, run_id, step "
                     "FROM blob_incidents ORDER BY id DESC LIMIT ?");
    q.bind(1, limit);
    std::vector<BlobIncident> out;
    while (q.executeStep()) {
      BlobIncident b;
      b.id = q.getColumn(0).getInt64();
      b.digest = q.getColumn(1).getString();
      b.found_at = q.getColumn(2).getDouble();
      b.problem = q.getColumn(3).getString();
      b.action = q.getColumn(4).getString();
      b.quarantined_to = q.getColumn(5).getString();
      if (!q.getColumn(6).isNull()) b.run_id = q.getColumn(6).getInt64();
      b.step = q.getColumn(7).getString();
      out.push_back(std::move(b));
    }
    return out;
  });
}

Result<std::vector<Artifact>> Store::all_artifacts() {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("all_artifacts", [&]() -> Result<std::vector<Artifact>> {
    detail::Cached q(impl_->db, std::string("SELECT ") + detail::kArtifactColumns +
                                    " FROM artifacts ORDER BY digest");
    std::vector<Artifact> out;
    while (q.executeStep()) out.push_back(detail::read_artifact(q));
    return out;
  });
}

Result<std::vector<std::string>> Store::integrity_problems() {
  std::lock_guard lock(impl_->mu);
  return detail::guarded("integrity_problems", [&]() -> Result<std::vector<std::string>> {
    std::vector<std::string> out;
    SQLite::Statement ic(impl_->db, "PRAGMA integrity_check");
    while (ic.executeStep())
      if (std::string line = ic.getColumn(0).getString(); line != "ok") out.push_back(line);
    SQLite::Statement fk(impl_->db, "PRAGMA foreign_key_check");
    while (fk.executeStep())
      out.push_back("foreign key: row " + std::to_string(fk.getColumn(1).getInt64()) + " of " +
                    fk.getColumn(0).getString() + " refers to a missing row of " +
                    fk.getColumn(2).getString());
    return out;
  });
}

namespace {

std::filesystem::path reserve_path(const std::filesystem::path& home) {
  return home / "reserve";
}

}  // namespace

void make_reserve(const std::filesystem::path& home) {
  int64_t bytes = int64_t(4) << 20;
  if (const char* env = std::getenv("LLMOPS_DISK_RESERVE")) bytes = std::atoll(env);
  const auto path = reserve_path(home);
  std::error_code ec;
  if (bytes <= 0 || std::filesystem::file_size(path, ec) == uint64_t(bytes)) return;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  // Real blocks (not a sparse file), or the space would not be there when it is needed.
  const bool made = ::posix_fallocate(fd, 0, bytes) == 0 && ::ftruncate(fd, bytes) == 0;
  ::close(fd);
  if (!made) std::filesystem::remove(path, ec);  // no room for it now: the next open tries again
}

bool Store::release_reserve() {
  std::error_code ec;
  return std::filesystem::remove(reserve_path(impl_->home), ec);
}

}  // namespace llmops::store
