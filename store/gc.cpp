// Store::collect_garbage: the retention policy of `llmops gc` (see GcOptions in store.hpp).
//
// Order, so that a crash at any point leaves a consistent store:
//   1. One write transaction (BEGIN IMMEDIATE): decide which runs stay, delete the rows of the
//      others children first, then the artifacts nothing refers to any more. Foreign keys stay on,
//      so a table this code does not know that still refers to a run makes the whole call fail
//      and change nothing. A dry run does the same and rolls back, so it reports exactly what a
//      real one would remove.
//   2. After the commit, the files: a removed artifact's blob is first renamed into blobs/tmp (one
//      atomic step: a half-deleted folder never sits under a digest's name, where sealing would
//      take it for complete) and deleted there; then run folders. A crash between 1 and 2 leaves
//      files no row names, which the next gc finds as orphans.
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <map>
#include <set>
#include <system_error>

#include <unistd.h>

#include "base/time.hpp"
#include "store/store.hpp"
#include "store/store_impl.hpp"

namespace llmops::store {
namespace fs = std::filesystem;
namespace {

enum class Why { kNewest, kInFlight, kDeployed, kScheduled, kLineage };

struct RunRow {
  std::string pipeline;
  State state = State::kPending;
  std::optional<int64_t> parent;
  double created_at = 0;
};

// Bytes of the regular files of a file or folder (symlinks are not followed).
int64_t disk_bytes(const fs::path& p) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(p, ec);
  if (ec) return 0;
  if (fs::is_regular_file(st)) {
    const auto n = fs::file_size(p, ec);
    return ec ? 0 : static_cast<int64_t>(n);
  }
  if (!fs::is_directory(st)) return 0;
  int64_t total = 0;
  for (fs::recursive_directory_iterator it(p, fs::directory_options::skip_permission_denied, ec),
       end;
       !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) {
      const auto n = it->file_size(ec);
      if (!ec) total += static_cast<int64_t>(n);
    }
    ec.clear();
  }
  return total;
}

// Seconds since the inode of `p` last changed (its ctime, which a rename sets: a blob sealed
// a moment ago looks young even when its files were written long before); -1 when unreadable.
double age_of(const fs::path& p, double now) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return -1;
  const double changed =
      std::max(static_cast<double>(st.st_ctim.tv_sec), static_cast<double>(st.st_mtim.tv_sec));
  return std::max(0.0, now - changed);
}

// Moves `p` to a fresh name under `tmp_dir`, then deletes it there. Returns "" or what failed.
std::string remove_via(const fs::path& p, const fs::path& tmp_dir) {
  static std::atomic<uint64_t> counter{0};
  std::error_code ec;
  fs::create_directories(tmp_dir, ec);
  const fs::path doomed =
      tmp_dir / ("gc-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1)));
  fs::rename(p, doomed, ec);
  if (ec) return "cannot move " + p.string() + " aside: " + ec.message();
  fs::remove_all(doomed, ec);
  if (ec) return "cannot remove " + doomed.string() + ": " + ec.message();
  return "";
}

std::string remove_tree(const fs::path& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
  return ec ? "cannot remove " + p.string() + ": " + ec.message() : "";
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() < 19 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

bool is_hex(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](unsigned char c) { return std::isdigit(c) || (c >= 'a' && c <= 'f'); });
}

// The single-column integer results of a query with one optional bound parameter.
std::vector<int64_t> ids_of(SQLite::Database& db, const char* sql,
                            std::optional<int64_t> param = std::nullopt) {
  SQLite::Statement q(db, sql);
  if (param) q.bind(1, *param);
  std::vector<int64_t> out;
  while (q.executeStep())
    if (!q.getColumn(0).isNull()) out.push_back(q.getColumn(0).getInt64());
  return out;
}

// Decides which runs stay: `keep` maps each kept run to its first reason.
class Retention {
 public:
  Retention(SQLite::Database& db, const std::map<int64_t, RunRow>& runs) : db_(db), runs_(runs) {}

  void seed(int keep_runs) {
    std::map<std::string, int> seen;
    for (auto it = runs_.rbegin(); it != runs_.rend(); ++it)  // newest first
      if (seen[it->second.pipeline]++ < keep_runs) add(it->first, Why::kNewest);
    for (const auto& [id, r] : runs_)
      if (r.state == State::kPending || r.state == State::kRunning) add(id, Why::kInFlight);
    if (db_.tableExists("run_leases"))  // an engine holds the run, whatever its state says
      for (int64_t id : ids_of(db_, "SELECT run_id FROM run_leases")) add(id, Why::kInFlight);
    for (const char* sql :
         {"SELECT run_id FROM deployments", "SELECT run_id FROM deployment_history",
          "SELECT e.run_id FROM deployments d JOIN executions e ON e.id = d.execution_id",
          "SELECT e.run_id FROM deployment_history d JOIN executions e ON e.id = d.execution_id"})
      for (int64_t id : ids_of(db_, sql)) add(id, Why::kDeployed);
    for (const char* sql : {"SELECT last_run_id FROM schedules",
                            "SELECT run_id FROM schedule_fires WHERE state != 'ended'"})
      for (int64_t id : ids_of(db_, sql)) add(id, Why::kScheduled);
    // The run that made a model being served, so its lineage survives the runs that deployed it.
    SQLite::Statement deployed(
        db_, "SELECT DISTINCT artifact_digest FROM deployments WHERE artifact_digest IS NOT NULL");
    while (deployed.executeStep()) need_producer(deployed.getColumn(0).getString(), Why::kDeployed);
  }

  // Adds what the kept runs need, until nothing more is added.
  void close() {
    SQLite::Statement triggers(
        db_,
        "SELECT t.source_run_id, e.run_id FROM triggers t LEFT JOIN executions e "
        "ON e.id = t.source_execution_id WHERE t.run_id = ?");
    // Inputs of the run's executions that none of its own executions produced (cached
    // executions record their outputs, so within a run only outside inputs remain).
    SQLite::Statement outside(
        db_,
        "SELECT DISTINCT i.artifact_digest FROM events i JOIN executions e ON e.id = "
        "i.execution_id WHERE e.run_id = ?1 AND i.direction = 'input' AND NOT EXISTS (SELECT 1 "
        "FROM events o JOIN executions oe ON oe.id = o.execution_id WHERE oe.run_id = ?1 AND "
        "o.direction = 'output' AND o.artifact_digest = i.artifact_digest)");
    while (!todo_.empty()) {
      const int64_t id = todo_.back();
      todo_.pop_back();
      if (auto it = runs_.find(id); it != runs_.end() && it->second.parent)
        add(*it->second.parent, Why::kLineage);
      triggers.bind(1, id);
      while (triggers.executeStep())
        for (int c = 0; c < 2; ++c)
          if (!triggers.getColumn(c).isNull()) add(triggers.getColumn(c).getInt64(), Why::kLineage);
      triggers.reset();
      outside.bind(1, id);
      std::vector<std::string> digests;
      while (outside.executeStep()) digests.push_back(outside.getColumn(0).getString());
      outside.reset();
      for (const auto& d : digests) need_producer(d);
    }
  }

  const std::map<int64_t, Why>& keep() const { return keep_; }

 private:
  void add(int64_t id, Why why) {
    if (!runs_.count(id) || keep_.count(id)) return;
    keep_.emplace(id, why);
    todo_.push_back(id);
  }

  // Keeps the newest run that produced `digest`, unless a kept run produced it already.
  void need_producer(const std::string& digest, Why why = Why::kLineage) {
    SQLite::Statement q(db_,
                        "SELECT DISTINCT e.run_id FROM events o JOIN executions e ON e.id = "
                        "o.execution_id WHERE o.artifact_digest = ? AND o.direction = 'output' "
                        "ORDER BY e.run_id DESC");
    q.bind(1, digest);
    std::optional<int64_t> newest;
    while (q.executeStep()) {
      const int64_t run = q.getColumn(0).getInt64();
      if (keep_.count(run)) return;
      if (!newest) newest = run;
    }
    if (newest) add(*newest, why);
  }

  SQLite::Database& db_;
  const std::map<int64_t, RunRow>& runs_;
  std::map<int64_t, Why> keep_;
  std::vector<int64_t> todo_;
};

}  // namespace

Result<GcReport> Store::collect_garbage(const GcOptions& options) {
  if (options.keep_runs < 0) return Status::invalid("gc: --keep-runs must be 0 or more");
  GcReport rep;
  rep.dry_run = options.dry_run;
  rep.keep_runs = options.keep_runs;
  std::vector<std::string> gone_digests;  // artifacts removed (or, in a dry run, that would be)
  std::set<int64_t> gone_runs;
  std::set<std::string> artifacts_left;  // after the transaction
  std::set<int64_t> runs_left;
  int64_t max_run_seen = 0;

  {
    std::lock_guard lock(impl_->mu);
    if (impl_->batch != detail::BatchState::kNone)
      return Status::precondition("gc: not inside a Store::Batch");
    Status s = detail::guarded("gc", [&]() -> Status {
      SQLite::Database& db = impl_->db;
      detail::WriteTx tx(db, impl_->batch);

      std::map<int64_t, RunRow> runs;
      {
        SQLite::Statement q(db, "SELECT id, pipeline, state, parent_run, created_at FROM runs");
        while (q.executeStep()) {
          RunRow r;
          const int64_t id = q.getColumn(0).getInt64();
          r.pipeline = detail::col_text(q.getColumn(1));
          r.state = detail::col_state(q.getColumn(2),
                                      [&] { return "runs.state of run " + std::to_string(id); });
          if (!q.getColumn(3).isNull()) r.parent = q.getColumn(3).getInt64();
          r.created_at = detail::col_time(q.getColumn(4));
          runs.emplace(id, std::move(r));
          max_run_seen = std::max(max_run_seen, id);
        }
      }
      Retention retention(db, runs);
      retention.seed(options.keep_runs);
      retention.close();
      for (const auto& [id, why] : retention.keep()) {
        switch (why) {
          case Why::kNewest:
            ++rep.kept_newest;
            break;
          case Why::kInFlight:
            ++rep.kept_in_flight;
            break;
          case Why::kDeployed:
            ++rep.kept_deployed;
            break;
          case Why::kScheduled:
            ++rep.kept_scheduled;
            break;
          case Why::kLineage:
            ++rep.kept_lineage;
            break;
        }
      }

      // Children before parents: a run's parent_run is always an older run.
      SQLite::Statement used(db,
                             "SELECT DISTINCT v.artifact_digest FROM events v JOIN executions e "
                             "ON e.id = v.execution_id WHERE e.run_id = ?");
      SQLite::Statement del_metrics(
          db,
          "DELETE FROM metrics WHERE execution_id IN (SELECT id FROM executions WHERE run_id = ?)");
      SQLite::Statement del_events(
          db,
          "DELETE FROM events WHERE execution_id IN (SELECT id FROM executions WHERE run_id = ?)");
      SQLite::Statement del_triggers(
          db,
          "DELETE FROM triggers WHERE run_id = ?1 OR source_run_id = ?1 OR source_execution_id IN "
          "(SELECT id FROM executions WHERE run_id = ?1)");
      SQLite::Statement del_fires(db, "DELETE FROM schedule_fires WHERE run_id = ?");
      SQLite::Statement del_execs(db, "DELETE FROM executions WHERE run_id = ?");
      SQLite::Statement del_steps(db, "DELETE FROM run_steps WHERE run_id = ?");
      SQLite::Statement del_run(db, "DELETE FROM runs WHERE id = ?");
      std::set<std::string> candidates;
      for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
        const int64_t id = it->first;
        if (retention.keep().count(id)) continue;
        rep.removed_runs.push_back(
            {id, it->second.pipeline, it->second.state, it->second.created_at});
        gone_runs.insert(id);
        used.bind(1, id);
        while (used.executeStep()) candidates.insert(used.getColumn(0).getString());
        used.reset();
        for (SQLite::Statement* q : {&del_metrics, &del_events, &del_triggers, &del_fires,
                                     &del_execs, &del_steps, &del_run}) {
          q->bind(1, id);
          const int n = q->exec();
          if (q == &del_execs) rep.executions_removed += n;
          if (q == &del_steps) rep.steps_removed += n;
          q->reset();
        }
      }
      SQLite::Statement del_artifact(
          db,
          "DELETE FROM artifacts WHERE digest = ?1 "
          "AND NOT EXISTS (SELECT 1 FROM events WHERE artifact_digest = ?1) "
          "AND NOT EXISTS (SELECT 1 FROM deployments WHERE artifact_digest = ?1) "
          "AND NOT EXISTS (SELECT 1 FROM deployment_history WHERE artifact_digest = ?1) "
          "AND NOT EXISTS (SELECT 1 FROM triggers WHERE report_digest = ?1)");
      for (const auto& d : candidates) {
        del_artifact.bind(1, d);
        if (del_artifact.exec() > 0) gone_digests.push_back(d);
        del_artifact.reset();
      }
      rep.artifacts_removed = static_cast<int64_t>(gone_digests.size());
      if (!options.dry_run) tx.commit();  // else rolled back when tx goes
      return Status::ok();
    });
    if (!s) {
      if (s.message().find("FOREIGN KEY") != std::string::npos)
        return Status::internal(s.message() +
                                " (a table gc does not know still refers to a run or artifact it "
                                "would remove; nothing was changed)");
      return s;
    }
    // What is left, read after the commit (or the rollback), for the orphan sweeps.
    s = detail::guarded("gc", [&]() -> Status {
      SQLite::Statement a(impl_->db, "SELECT digest FROM artifacts");
      while (a.executeStep()) artifacts_left.insert(a.getColumn(0).getString());
      SQLite::Statement r(impl_->db, "SELECT id FROM runs");
      while (r.executeStep()) runs_left.insert(r.getColumn(0).getInt64());
      return Status::ok();
    });
    if (!s) return s;
  }

  auto warn = [&](const std::string& w) {
    if (!w.empty()) rep.warnings.push_back(w);
  };
  BlobStore& blobs = impl_->blob_store;
  const fs::path tmp_dir = blobs.root() / "tmp";
  // The database is done: a file that cannot be read or removed is a warning, not a failure.
  auto sweep_files = [&] {
    std::error_code ec;
    // Blobs of the removed artifacts, unless a run recorded the digest again meanwhile.
    std::set<std::string> gone_set(gone_digests.begin(), gone_digests.end());
    for (const auto& d : gone_digests) {
      const fs::path p = blobs.path_of(d);
      if (!fs::exists(fs::symlink_status(p, ec))) continue;
      if (!options.dry_run) {
        std::lock_guard lock(impl_->mu);
        bool back = false;
        Status s = detail::guarded("gc", [&]() -> Status {
          SQLite::Statement q(impl_->db, "SELECT 1 FROM artifacts WHERE digest = ?");
          q.bind(1, d);
          back = q.executeStep();
          return Status::ok();
        });
        if (!s || back) continue;
      }
      const int64_t bytes = disk_bytes(p);
      if (!options.dry_run) {
        const std::string w = remove_via(p, tmp_dir);
        if (!w.empty()) {
          warn(w);
          continue;
        }
      }
      ++rep.blobs_removed;
      rep.blob_bytes += bytes;
    }

    // Orphan blobs: under a digest's name that no artifact names, or temporary leftovers; only once
    // older than the grace period (a running engine seals a blob just before it records it).
    const double now = base::unix_now();
    auto orphan = [&](const fs::path& p) {
      const double age = age_of(p, now);
      if (age < 0 || age < options.orphan_grace_s) return;
      const int64_t bytes = disk_bytes(p);
      if (!options.dry_run) {
        const std::string w = remove_tree(p);
        if (!w.empty()) {
          warn(w);
          return;
        }
      }
      ++rep.orphan_blobs_removed;
      rep.orphan_blob_bytes += bytes;
    };
    const fs::path sha_root = blobs.root() / "sha256";
    if (fs::is_directory(sha_root, ec)) {
      for (const auto& shard : fs::directory_iterator(sha_root, ec)) {
        const std::string prefix = shard.path().filename().string();
        if (prefix.size() != 2 || !is_hex(prefix) || !shard.is_directory(ec)) continue;
        for (const auto& entry : fs::directory_iterator(shard.path(), ec)) {
          const std::string rest = entry.path().filename().string();
          if (rest.size() != 62 || !is_hex(rest)) continue;
          const std::string digest = "sha256:" + prefix + rest;
          if (artifacts_left.count(digest) || gone_set.count(digest)) continue;
          orphan(entry.path());
        }
      }
    }
    if (fs::is_directory(tmp_dir, ec))
      for (const auto& entry : fs::directory_iterator(tmp_dir, ec)) orphan(entry.path());

    // Run folders: those of the removed runs, and leftovers of runs no longer recorded (an
    // interrupted gc). Only ids up to the newest run seen: a run recorded since then has no row in
    // what was read, yet its folder is about to be made.
    if (!options.runs_root.empty() && fs::is_directory(options.runs_root, ec)) {
      for (const auto& entry : fs::directory_iterator(options.runs_root, ec)) {
        const std::string name = entry.path().filename().string();
        if (!all_digits(name)) continue;
        const int64_t id = std::stoll(name);
        const bool removed = gone_runs.count(id) > 0;
        if (!removed && (runs_left.count(id) || id > max_run_seen)) continue;
        const int64_t bytes = disk_bytes(entry.path());
        if (!options.dry_run) {
          const std::string w = remove_tree(entry.path());
          if (!w.empty()) {
            warn(w);
            continue;
          }
        }
        ++rep.run_dirs_removed;
        rep.run_dir_bytes += bytes;
      }
    }
  };
  try {
    sweep_files();
  } catch (const std::exception& e) {
    warn(std::string("gc: ") + e.what());
  }
  return rep;
}

}  // namespace llmops::store
