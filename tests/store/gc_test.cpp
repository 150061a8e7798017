// Store::collect_garbage: which runs a retention policy keeps, and that the rows, blobs and run
// folders of the others go (or, in a dry run, stay) without breaking a foreign key.
#include <catch2/catch.hpp>

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <map>

#include "base/hash.hpp"
#include "store/store.hpp"
#include "store_test_util.hpp"

using namespace llmops::store;
using llmops::store::testing::open_store;
using llmops::store::testing::TempDir;
using llmops::store::testing::write_file;
namespace fs = std::filesystem;

namespace {

struct World {
  TempDir tmp{"gc"};
  std::unique_ptr<Store> store = open_store(tmp.path / "home");
  std::map<int64_t, Artifact> made;  // run -> the output of its `make` step

  fs::path home() const { return tmp.path / "home"; }
  fs::path runs_root() const { return home() / "runs"; }
  fs::path run_folder(int64_t id) const { return runs_root() / std::to_string(id); }

  // Seals `text` as a file blob.
  Artifact blob(const std::string& text) {
    const fs::path src = tmp.path / "src" / llmops::base::sha256_hex(text);
    write_file(src, text);
    auto sealed = store->blobs().seal(src, true);
    REQUIRE(sealed);
    Artifact a;
    a.digest = sealed->digest;
    a.kind = "file";
    a.name = "out";
    a.uri = sealed->path.string();
    a.size = sealed->size;
    return a;
  }

  void step(int64_t run, const std::string& name, std::vector<Event> inputs,
            std::vector<Event> outputs) {
    auto ex = store->begin_execution(run, name, 1, "testing/write", "1.0.0", "d", "", "");
    REQUIRE(ex);
    ExecutionResult res;
    res.state = State::kSucceeded;
    res.inputs = std::move(inputs);
    res.outputs = std::move(outputs);
    res.metrics.push_back({"bytes", 1});
    REQUIRE(store->finish_execution(*ex, res));
  }

  // A run of `pipeline`: `make` writes `text`, `use` reads it (and `outside`, an artifact made
  // elsewhere, when given) and writes `text + " used"`. Its run folder holds a log.
  int64_t run(const std::string& pipeline, const std::string& text,
              std::optional<Artifact> outside = std::nullopt,
              std::optional<int64_t> parent = std::nullopt, State state = State::kSucceeded) {
    NewRun r;
    r.pipeline = pipeline;
    r.parent_run = parent;
    auto id = store->create_run(r, {"make", "use"});
    REQUIRE(id);
    REQUIRE(store->set_run_state(*id, State::kRunning));
    const Artifact m = blob(text);
    step(*id, "make", {}, {{"out", m}});
    std::vector<Event> ins{{"in", m}};
    if (outside) ins.push_back({"extra", *outside});
    step(*id, "use", ins, {{"out", blob(text + " used")}});
    if (state != State::kRunning) REQUIRE(store->set_run_state(*id, state));
    write_file(run_folder(*id) / "make.log", "log of " + text);
    made[*id] = m;
    return *id;
  }

  bool has_blob(const std::string& text) const {
    return store->blobs().exists("sha256:" + llmops::base::sha256_hex(text));
  }
  bool has_run(int64_t id) const { return static_cast<bool>(store->get_run(id)); }
};

// Two pipelines, a and b, with keep_runs = 2 in mind; see the comments for why each run stays.
struct Scenario : World {
  int64_t a1, b1, a2, a3, bx, b2, b3, a4, b4, a5, b5;
  Scenario() {
    a1 = run("a", "a1");                                               // its model is deployed
    b1 = run("b", "b1", std::nullopt, std::nullopt, State::kRunning);  // in flight
    a2 = run("a", "shared");                                           // removed; blobs shared
    a3 = run("a", "a3");                                               // removed
    bx = run("b", "bx");                                               // removed
    b2 = run("b", "b2");  // b5 reads its output: lineage
    b3 = run("b", "b3");  // b4's parent: lineage
    a4 = run("a", "a4");
    b4 = run("b", "b4", std::nullopt, b3);
    a5 = run("a", "a5");
    b5 = run("b", "shared", made[b2]);
    DeploymentRecord d;
    d.name = "assistant";
    d.action = "start";
    d.state = "running";
    d.artifact_digest = made[a1].digest;
    REQUIRE(store->record_deployment(d));
  }
};

GcOptions options(const World& w, int keep, bool dry = false) {
  GcOptions o;
  o.keep_runs = keep;
  o.dry_run = dry;
  o.runs_root = w.runs_root();
  return o;
}

std::vector<int64_t> ids(const GcReport& r) {
  std::vector<int64_t> out;
  for (const auto& run : r.removed_runs) out.push_back(run.id);
  return out;
}

int64_t count(const fs::path& db, const std::string& sql) {
  SQLite::Database d(db.string(), SQLite::OPEN_READONLY);
  return d.execAndGet(sql).getInt64();
}

}  // namespace

TEST_CASE("gc keeps the newest runs per pipeline and what deployments and lineage need",
          "[store][gc]") {
  Scenario w;
  // An ended fire of a run that goes: its bookkeeping goes with it (a foreign key otherwise).
  {
    SQLite::Database db((w.home() / "llmops.db").string(), SQLite::OPEN_READWRITE);
    SQLite::Statement q(db,
                        "INSERT INTO schedule_fires(schedule, kind, token, run_id, state, "
                        "created_at) VALUES ('nightly', 'cron', 'tok', ?, 'ended', 0)");
    q.bind(1, w.a3);
    q.exec();
  }
  auto rep = w.store->collect_garbage(options(w, 2));
  REQUIRE(rep);
  CHECK(ids(*rep) == std::vector<int64_t>{w.bx, w.a3, w.a2});
  CHECK(rep->removed_runs[0].pipeline == "b");
  CHECK(rep->removed_runs[0].state == State::kSucceeded);
  CHECK(rep->kept_newest == 4);
  CHECK(rep->kept_in_flight == 1);
  CHECK(rep->kept_deployed == 1);
  CHECK(rep->kept_lineage == 2);
  CHECK(rep->runs_kept() == 8);
  CHECK(rep->steps_removed == 6);
  CHECK(rep->executions_removed == 6);
  // a3 and bx each made two blobs of their own; a2's are shared with b5.
  CHECK(rep->artifacts_removed == 4);
  CHECK(rep->blobs_removed == 4);
  CHECK(rep->blob_bytes == 2 * (2 + 7));
  CHECK(rep->run_dirs_removed == 3);
  CHECK(rep->run_dir_bytes ==
        static_cast<int64_t>(std::string("log of a3log of bxlog of shared").size()));
  CHECK(rep->bytes_freed() == rep->blob_bytes + rep->run_dir_bytes);
  CHECK(rep->warnings.empty());

  for (int64_t id : {w.a2, w.a3, w.bx}) {
    auto r = w.store->get_run(id);
    REQUIRE_FALSE(r);
    CHECK(r.status().code() == llmops::StatusCode::kNotFound);
    CHECK_FALSE(fs::exists(w.run_folder(id)));
  }
  for (int64_t id : {w.a1, w.b1, w.b2, w.b3, w.a4, w.b4, w.a5, w.b5}) {
    CHECK(w.has_run(id));
    CHECK(fs::exists(w.run_folder(id) / "make.log"));
  }
  CHECK_FALSE(w.has_blob("a3"));
  CHECK_FALSE(w.has_blob("a3 used"));
  CHECK_FALSE(w.has_blob("bx"));
  CHECK(w.has_blob("shared"));       // b5 made it too
  CHECK(w.has_blob("shared used"));  // likewise
  CHECK(w.has_blob("a1"));           // deployed
  CHECK(w.has_blob("b2"));           // read by b5
  CHECK(w.store->find_artifacts(w.made[w.a1].digest)->size() == 1);

  const fs::path db = w.home() / "llmops.db";
  w.store.reset();
  CHECK(count(db, "SELECT COUNT(*) FROM pragma_foreign_key_check") == 0);
  CHECK(count(db, "SELECT COUNT(*) FROM schedule_fires") == 0);
  CHECK(count(db, "SELECT COUNT(*) FROM runs") == 8);
  CHECK(count(db,
              "SELECT COUNT(*) FROM metrics m LEFT JOIN executions e ON e.id = "
              "m.execution_id WHERE e.id IS NULL") == 0);

  // Nothing more to do the second time.
  w.store = open_store(w.home());
  auto again = w.store->collect_garbage(options(w, 2));
  REQUIRE(again);
  CHECK(again->removed_runs.empty());
  CHECK(again->bytes_freed() == 0);
}

TEST_CASE("gc --dry-run reports what a real gc removes and removes nothing", "[store][gc]") {
  Scenario w;
  auto dry = w.store->collect_garbage(options(w, 2, true));
  REQUIRE(dry);
  CHECK(dry->dry_run);
  CHECK(ids(*dry) == std::vector<int64_t>{w.bx, w.a3, w.a2});
  for (int64_t id : {w.a2, w.a3, w.bx}) {
    CHECK(w.has_run(id));
    CHECK(fs::exists(w.run_folder(id) / "make.log"));
  }
  CHECK(w.has_blob("a3"));
  CHECK(w.has_blob("bx used"));
  CHECK(w.store->list_artifacts(1000)->size() == 20);

  auto real = w.store->collect_garbage(options(w, 2));
  REQUIRE(real);
  CHECK(ids(*real) == ids(*dry));
  CHECK(real->artifacts_removed == dry->artifacts_removed);
  CHECK(real->executions_removed == dry->executions_removed);
  CHECK(real->blobs_removed == dry->blobs_removed);
  CHECK(real->bytes_freed() == dry->bytes_freed());
  CHECK(w.store->list_artifacts(1000)->size() == 16);
}

TEST_CASE("gc keeps runs named by deployment history and schedules, and their parents",
          "[store][gc]") {
  World w;
  const int64_t old1 = w.run("p", "old1");
  const int64_t old2 = w.run("p", "old2");
  const int64_t child = w.run("q", "child", std::nullopt, old2);
  const int64_t gone = w.run("p", "gone");
  w.run("p", "newest");
  DeploymentRecord d;
  d.name = "svc";
  d.action = "stop";
  d.state = "stopped";
  d.run_id = old1;
  REQUIRE(w.store->record_deployment(d));
  ScheduleState s;
  s.name = "q";
  s.last_run_id = child;
  REQUIRE(w.store->put_schedule(s));

  auto rep = w.store->collect_garbage(options(w, 0));
  REQUIRE(rep);
  CHECK(ids(*rep) == std::vector<int64_t>{w.made.rbegin()->first, gone});
  CHECK(rep->kept_newest == 0);
  CHECK(rep->kept_deployed == 1);
  CHECK(rep->kept_scheduled == 1);
  CHECK(rep->kept_lineage == 1);  // old2, the parent of the scheduled child
  CHECK(w.has_run(old1));
  CHECK(w.has_run(old2));
  CHECK(w.has_run(child));
}

TEST_CASE("gc removes unreferenced blobs and leftover run folders only past the grace",
          "[store][gc]") {
  World w;
  const int64_t kept = w.run("p", "kept");
  // Sealed but never recorded (a killed engine, or one about to record it).
  const Artifact stray = w.blob("stray blob");
  write_file(w.store->blobs().root() / "tmp" / "seal-1-2-3", "half a copy");
  // A run folder whose run no longer exists (an interrupted gc).
  write_file(w.run_folder(0) / "x.log", "old");

  GcOptions o = options(w, 5);
  auto young = w.store->collect_garbage(o);
  REQUIRE(young);
  CHECK(young->orphan_blobs_removed == 0);
  CHECK(young->run_dirs_removed == 1);
  CHECK_FALSE(fs::exists(w.run_folder(0)));
  CHECK(w.store->blobs().exists(stray.digest));

  o.orphan_grace_s = 0;
  o.dry_run = true;
  auto dry = w.store->collect_garbage(o);
  REQUIRE(dry);
  CHECK(dry->orphan_blobs_removed == 2);
  CHECK(w.store->blobs().exists(stray.digest));
  o.dry_run = false;
  auto old = w.store->collect_garbage(o);
  REQUIRE(old);
  CHECK(old->orphan_blobs_removed == 2);
  CHECK(old->orphan_blob_bytes ==
        static_cast<int64_t>(std::string("stray blob").size() + std::string("half a copy").size()));
  CHECK_FALSE(w.store->blobs().exists(stray.digest));
  CHECK(w.has_run(kept));
  CHECK(w.store->blobs().exists(w.made[kept].digest));
  CHECK(fs::exists(w.run_folder(kept)));
}

TEST_CASE("gc refuses a negative keep count and an open batch", "[store][gc]") {
  World w;
  w.run("p", "one");
  GcOptions o = options(w, -1);
  CHECK_FALSE(w.store->collect_garbage(o));
  auto batch = w.store->batch();
  REQUIRE(batch);
  auto in_batch = w.store->collect_garbage(options(w, 0));
  REQUIRE_FALSE(in_batch);
  CHECK_THAT(in_batch.status().message(), Catch::Contains("Batch"));
  REQUIRE(batch->commit());
  CHECK(w.store->collect_garbage(options(w, 0)));
}
