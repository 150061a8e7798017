// ScheduleDaemon, cron entries across scheduler restarts: what is in flight comes from the store,
// so `forbid` and `replace` hold for runs an earlier scheduler process started; a run whose engine
// died is marked for `llmops resume`; last_run_id follows the runs started. Also the store
// migration that brought the tables this needs. FakeClock and FakeLauncher: no sleeping.
#include <SQLiteCpp/SQLiteCpp.h>

#include <catch2/catch.hpp>

#include "daemon_fixture.hpp"
#include "store/migrations.hpp"

using namespace llmops;
using namespace llmops::testing;
using nlohmann::json;
using std::chrono::seconds;

namespace {

constexpr const char* kStart = "2026-01-01T00:00:30Z";  // the fake clock's first reading

engine::PipelineSpec every_ten(const std::string& concurrency) {
  return load_schedules("  cron: \"*/10 * * * *\"\n  concurrency: " + concurrency + "\n");
}

// A first scheduler sees the schedule, starts the 00:10 fire, whose run records itself, and is
// killed. Returns the pid of that run's process.
int64_t first_scheduler_starts_a_run(World& w, const engine::PipelineSpec& spec, int64_t* run) {
  Daemon first(*w.store, w.clock, w.procs, w.dir.path());
  first.tick(spec);  // first sight: nothing back-filled
  CHECK(w.procs.started() == 0);
  w.clock.set(utc("2026-01-01T00:10:00Z"));
  first.tick(spec);
  REQUIRE(w.procs.started() == 1);
  const int64_t pid = w.procs.last_pid();
  *run = w.procs.record_run(*w.store, pid);
  first.tick(spec);  // links the run
  CHECK(w.state().last_run_id == *run);
  return pid;
}

}  // namespace

TEST_CASE("cron: last_run_id is the run of the newest fire", "[cron][daemon]") {
  World w(kStart);
  const auto spec = every_ten("allow");
  Daemon d(*w.store, w.clock, w.procs, w.dir.path());
  d.tick(spec);
  w.clock.set(utc("2026-01-01T00:10:00Z"));
  d.tick(spec);
  REQUIRE(w.procs.started() == 1);
  CHECK_FALSE(w.state().last_run_id);  // not recorded by its process yet
  CHECK(d.daemon.awaiting_runs());
  const json info = json::parse(w.procs.last().request.trigger_info_json);
  CHECK(info["schedule"] == "p");
  CHECK(info["nominal"] == "2026-01-01T00:10:00+00:00");
  CHECK(info["fire"] == w.procs.last().request.token);
  const int64_t run1 = w.procs.record_run(*w.store, w.procs.last_pid());
  d.tick(spec);
  CHECK_FALSE(d.daemon.awaiting_runs());
  CHECK(w.state().last_run_id == run1);
  CHECK(w.state().last_started_at == 1767226200.0);
  w.clock.set(utc("2026-01-01T00:20:00Z"));
  d.tick(spec);
  w.clock.set(utc("2026-01-01T00:30:00Z"));
  d.tick(spec);
  REQUIRE(w.procs.started() == 3);
  const int64_t pid3 = w.procs.last_pid();
  const int64_t pid2 = pid3 - 1;
  const int64_t run3 = w.procs.record_run(*w.store, pid3);
  d.tick(spec);
  CHECK(w.state().last_run_id == run3);
  CHECK(d.logged("run " + std::to_string(run3) + " recorded for p (pid " + std::to_string(pid3)));
  // An older fire recording its run late does not take last_run_id back.
  w.procs.record_run(*w.store, pid2);
  d.tick(spec);
  CHECK(w.state().last_run_id == run3);
}

TEST_CASE("cron forbid across a restart: the earlier scheduler's run still counts",
          "[cron][daemon][restart]") {
  World w(kStart);
  const auto spec = every_ten("forbid");
  int64_t run = 0;
  const int64_t pid = first_scheduler_starts_a_run(w, spec, &run);

  Daemon second(*w.store, w.clock, w.procs, w.dir.path());
  w.clock.set(utc("2026-01-01T00:20:00Z"));
  second.tick(spec);
  INFO(second.log());
  CHECK(w.procs.started() == 1);
  CHECK(
      second.logged("skipped p: 1 fire(s) up to 2026-01-01T00:20:00+00:00 (concurrency forbid: "
                    "a run is still in flight: run " +
                    std::to_string(run) + " (pid " + std::to_string(pid) + "))"));
  w.procs.finish(*w.store, pid);
  w.clock.set(utc("2026-01-01T00:30:00Z"));
  second.tick(spec);
  CHECK(w.procs.started() == 2);
  CHECK(w.procs.last().request.token != w.procs.procs.at(pid).request.token);
}

TEST_CASE("cron forbid across a restart: a run whose engine died does not block, and is marked",
          "[cron][daemon][restart]") {
  World w(kStart);
  const auto spec = every_ten("forbid");
  int64_t run = 0;
  const int64_t pid = first_scheduler_starts_a_run(w, spec, &run);
  w.procs.kill(pid);  // its engine was killed too, leaving the run `running`

  Daemon second(*w.store, w.clock, w.procs, w.dir.path());
  w.clock.set(utc("2026-01-01T00:20:00Z"));
  second.tick(spec);
  INFO(second.log());
  CHECK(second.logged("run " + std::to_string(run) + " of p: its engine process (pid " +
                      std::to_string(pid) + ") is gone; marked failed (interrupted) so `llmops " +
                      "resume " + std::to_string(run) + "` can continue it"));
  auto r = w.store->get_run(run);
  REQUIRE(r);
  CHECK(r->state == store::State::kFailed);
  CHECK(r->error.find("interrupted") != std::string::npos);
  CHECK(w.procs.started() == 2);  // the fire was not forbidden by a dead run
}

TEST_CASE("cron replace across a restart", "[cron][daemon][restart]") {
  World w(kStart);
  const auto spec = every_ten("replace");
  int64_t run = 0;
  const int64_t pid = first_scheduler_starts_a_run(w, spec, &run);

  SECTION("its engine still runs: it is interrupted, then the new run starts") {
    Daemon second(*w.store, w.clock, w.procs, w.dir.path());
    w.clock.set(utc("2026-01-01T00:20:00Z"));
    second.tick(spec);
    INFO(second.log());
    CHECK(w.procs.procs.at(pid).interrupted);
    REQUIRE(w.procs.started() == 2);
    CHECK(second.logged("cancel p run " + std::to_string(run) + " (pid " + std::to_string(pid) +
                        "): concurrency replace"));
    auto open = w.store->open_schedule_fires("p");
    REQUIRE(open);
    REQUIRE(open->size() == 2);
    CHECK((*open)[0].state == "cancelling");
    // It is interrupted once, not again at the next fire while it is still stopping.
    w.procs.procs.at(pid).interrupted = false;
    const int64_t pid2 = w.procs.last_pid();
    w.procs.record_run(*w.store, pid2);
    w.procs.finish(*w.store, pid2);
    w.clock.set(utc("2026-01-01T00:30:00Z"));
    second.tick(spec);
    CHECK_FALSE(w.procs.procs.at(pid).interrupted);
    CHECK(w.procs.started() == 3);
    // It ends cancelled (as `llmops run` does on SIGINT): its fire is closed.
    w.procs.finish(*w.store, pid, store::State::kCancelled);
    second.tick(spec);
    auto still = w.store->open_schedule_fires("p");
    REQUIRE(still);
    CHECK(still->size() == 1);
  }
  SECTION("its engine is gone: the run is marked for resume, nothing is signalled") {
    w.procs.kill(pid);
    Daemon second(*w.store, w.clock, w.procs, w.dir.path());
    w.clock.set(utc("2026-01-01T00:20:00Z"));
    second.tick(spec);
    INFO(second.log());
    CHECK_FALSE(w.procs.procs.at(pid).interrupted);
    CHECK(second.logged("its engine process (pid " + std::to_string(pid) + ") is gone"));
    CHECK(second.logged("llmops resume " + std::to_string(run)));
    CHECK(w.store->get_run(run)->state == store::State::kFailed);
    CHECK(w.procs.started() == 2);
  }
}

TEST_CASE("runs no fire knows still count and fires never started are closed",
          "[cron][daemon][restart]") {
  World w(kStart);
  const auto spec = every_ten("forbid");
  Daemon d(*w.store, w.clock, w.procs, w.dir.path());
  d.tick(spec);
  // A run recorded by an older scheduler that did not keep fires.
  store::NewRun nr;
  nr.pipeline = "p";
  nr.trigger = "cron";
  nr.trigger_info_json = R"({"schedule":"p","nominal_unix":1767225000})";
  auto old = w.store->create_run(nr, {"a"});
  REQUIRE(old);
  // A fire recorded by a scheduler that was killed before it started the process.
  store::ScheduleFire lost;
  lost.schedule = "p";
  lost.kind = "cron";
  REQUIRE(w.store->add_schedule_fire(lost));
  w.clock.set(utc("2026-01-01T00:10:00Z"));
  d.tick(spec);
  INFO(d.log());
  CHECK(w.procs.started() == 0);
  CHECK(d.logged("run " + std::to_string(*old) + " (no process known)"));
  CHECK(d.logged("never started"));
  auto open = w.store->open_schedule_fires();
  REQUIRE(open);
  CHECK(open->empty());
  REQUIRE(w.store->set_run_state(*old, store::State::kSucceeded));
  w.clock.set(utc("2026-01-01T00:20:00Z"));
  d.tick(spec);
  CHECK(w.procs.started() == 1);
}

TEST_CASE("a start that fails closes its fire and is logged", "[cron][daemon]") {
  World w(kStart);
  const auto spec = every_ten("forbid");
  Daemon d(*w.store, w.clock, w.procs, w.dir.path());
  d.tick(spec);
  w.procs.fail_next = true;
  w.clock.set(utc("2026-01-01T00:10:00Z"));
  d.tick(spec);
  CHECK(d.logged("error: cannot start p @ 2026-01-01T00:10:00+00:00: no such file"));
  auto open = w.store->open_schedule_fires();
  REQUIRE(open);
  CHECK(open->empty());  // nothing in flight: the next fire is not forbidden
  w.clock.set(utc("2026-01-01T00:20:00Z"));
  d.tick(spec);
  CHECK(w.procs.started() == 1);
}

TEST_CASE("a version 1 store is migrated, keeping its schedules", "[cron][store][migration]") {
  TempFolder dir;
  const auto home = dir.path() / "home";
  std::filesystem::create_directories(home);
  {
    SQLite::Database db((home / "llmops.db").string(),
                        SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec(store::migrations().at(0));
    db.exec("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)");
    db.exec("INSERT INTO schema_version VALUES (1, 0)");
    db.exec(
        "INSERT INTO schedules (name, cron, last_nominal_fire, updated_at) VALUES "
        "('p', '*/10 * * * *', 1767225600, 0)");
  }
  auto opened = store::Store::open(home);
  REQUIRE(opened);
  auto st = opened.value()->get_schedule("p");
  REQUIRE(st);
  REQUIRE(st.value());
  CHECK(st.value()->kind == "cron");
  CHECK(st.value()->last_nominal_fire == 1767225600.0);
  CHECK_FALSE(st.value()->last_digest);
  auto fires = opened.value()->open_schedule_fires();
  REQUIRE(fires);
  CHECK(fires->empty());
  CHECK(store::schema_version_supported() >= 2);
}
