// ScheduleDaemon, watch entries: a run when new data arrives (a new file, changed content), none
// when nothing changed or a file is merely rewritten, the poll interval, settle, concurrency, and
// no second run for the same data after a restart. FakeClock and FakeLauncher: no sleeping.
#include <catch2/catch.hpp>

#include "daemon_fixture.hpp"

using namespace llmops;
using namespace llmops::testing;
using nlohmann::json;
using std::chrono::seconds;

namespace {

constexpr const char* kStart = "2026-03-01T12:00:00Z";  // the fake clock's first reading

const char* kWatch = R"(  - name: in
    watch: {glob: "data/*.jsonl", poll: 10s}
)";

}  // namespace

TEST_CASE("watch: a new file starts a run, unchanged data does not, changed content does",
          "[watch][daemon]") {
  World w(kStart);
  const auto spec = load_schedules(kWatch);
  Daemon d(*w.store, w.clock, w.procs, w.dir.path());
  const auto t0 = w.clock.now();

  // First look: the (empty) folder is the baseline; the next poll is 10s later.
  CHECK(d.tick(spec) == t0 + seconds(10));
  CHECK(w.procs.started() == 0);
  CHECK(d.logged("watch p/in: first look, 0 file(s)"));

  w.dir.write("data/a.jsonl", "{\"q\": 1}\n");
  w.clock.advance(seconds(5));
  CHECK(d.tick(spec) == t0 + seconds(10));  // not looked at before its poll interval
  CHECK(w.procs.started() == 0);
  w.clock.advance(seconds(5));
  d.tick(spec);
  INFO(d.log());
  REQUIRE(w.procs.started() == 1);
  const auto& req = w.procs.last().request;
  CHECK(req.trigger == "watch");
  CHECK(req.file == "p.yaml");
  const json info = json::parse(req.trigger_info_json);
  CHECK(info["schedule"] == "p/in");
  CHECK(info["files"] == json::array({"data/a.jsonl"}));
  CHECK(info["files_total"] == 1);
  CHECK(info["fire"] == req.token);
  CHECK(info["watch"] == json::array({"data/*.jsonl"}));
  const std::string digest = info["digest"];
  CHECK(digest.rfind("sha256:", 0) == 0);
  CHECK(d.logged("start p/in on new data: 1 file(s), digest " + digest.substr(0, 19)));
  CHECK(w.state("p/in").last_digest == digest);
  CHECK(w.state("p/in").kind == "watch");

  // The run records itself (as `llmops run` does); the next tick links it: last_run_id.
  const int64_t run = w.procs.record_run(*w.store, w.procs.last_pid());
  w.clock.advance(seconds(10));
  d.tick(spec);
  CHECK(w.procs.started() == 1);  // same data: no second run
  CHECK(w.state("p/in").last_run_id == run);
  auto recorded = w.store->get_run(run);
  REQUIRE(recorded);
  CHECK(recorded->trigger == "watch");
  CHECK(json::parse(recorded->trigger_info_json)["digest"] == digest);
  w.procs.finish(*w.store, w.procs.last_pid());

  // Rewritten with the same content: still no run.
  w.dir.write("data/a.jsonl", "{\"q\": 1}\n");
  w.clock.advance(seconds(10));
  d.tick(spec);
  CHECK(w.procs.started() == 1);

  // Changed content: a run.
  w.dir.write("data/a.jsonl", "{\"q\": 1}\n{\"q\": 2}\n");
  w.clock.advance(seconds(10));
  d.tick(spec);
  REQUIRE(w.procs.started() == 2);
  CHECK(json::parse(w.procs.last().request.trigger_info_json)["digest"] != digest);

  // Everything removed: an empty match never starts a run.
  w.procs.finish(*w.store, w.procs.last_pid());
  std::filesystem::remove(w.dir.path() / "data/a.jsonl");
  w.clock.advance(seconds(10));
  d.tick(spec);
  CHECK(w.procs.started() == 2);
}

TEST_CASE("watch: a restarted scheduler does not start a second run for the same data",
          "[watch][daemon][restart]") {
  World w(kStart);
  const auto spec = load_schedules(kWatch);
  w.dir.write("data/a.jsonl", "old\n");
  {
    Daemon first(*w.store, w.clock, w.procs, w.dir.path());
    first.tick(spec);  // baseline: the file already there
    w.dir.write("data/b.jsonl", "new\n");
    w.clock.advance(seconds(10));
    first.tick(spec);
    REQUIRE(w.procs.started() == 1);
  }  // killed before its run even recorded itself
  Daemon second(*w.store, w.clock, w.procs, w.dir.path());
  w.clock.advance(seconds(1));
  second.tick(spec);  // polls at once: same digest as the run in flight started with
  INFO(second.log());
  CHECK(w.procs.started() == 1);
  CHECK_FALSE(second.logged("first look"));
  CHECK(second.logged("watch p/in: 2 file(s), unchanged since the last run it started"));
  // The run of the first scheduler's process is still found and linked.
  const int64_t run = w.procs.record_run(*w.store, w.procs.last_pid());
  w.clock.advance(seconds(10));
  second.tick(spec);
  CHECK(w.state("p/in").last_run_id == run);
  CHECK(w.procs.started() == 1);
  // New data after the restart does start one.
  w.dir.write("data/c.jsonl", "newer\n");
  w.clock.advance(seconds(10));
  second.tick(spec);
  CHECK(w.procs.started() == 2);
}

TEST_CASE("watch: settle waits for the change to hold still", "[watch][daemon]") {
  World w(kStart);
  const auto spec = load_schedules(R"(  - name: in
    watch: {glob: "data/*.jsonl", poll: 10s, settle: 25s}
)");
  Daemon d(*w.store, w.clock, w.procs, w.dir.path());
  d.tick(spec);
  w.dir.write("data/a.jsonl", "part");
  w.clock.advance(seconds(10));
  d.tick(spec);  // seen at T
  CHECK(w.procs.started() == 0);
  w.dir.write("data/a.jsonl", "partial, still writing");
  w.clock.advance(seconds(10));
  const auto seen = w.clock.now();
  CHECK(d.tick(spec) == seen + seconds(10));  // changed again: the wait starts over
  CHECK(w.procs.started() == 0);
  w.clock.advance(seconds(20));
  CHECK(d.tick(spec) == seen + seconds(25));  // unchanged for 20s of 25s: wake when it settles
  CHECK(w.procs.started() == 0);
  w.clock.advance(seconds(5));
  d.tick(spec);
  CHECK(w.procs.started() == 1);
}

TEST_CASE("watch: forbid holds new data until the run ends and replace interrupts it",
          "[watch][daemon]") {
  World w(kStart);
  const bool forbid = GENERATE(true, false);
  const auto spec = load_schedules(std::string(kWatch) +
                                   "    concurrency: " + (forbid ? "forbid" : "replace") + "\n");
  Daemon d(*w.store, w.clock, w.procs, w.dir.path());
  d.tick(spec);
  w.dir.write("data/a.jsonl", "1");
  w.clock.advance(seconds(10));
  d.tick(spec);
  REQUIRE(w.procs.started() == 1);
  const int64_t first = w.procs.last_pid();
  const int64_t run = w.procs.record_run(*w.store, first);
  w.dir.write("data/b.jsonl", "2");
  w.clock.advance(seconds(10));
  d.tick(spec);
  INFO(d.log());
  if (forbid) {
    CHECK(w.procs.started() == 1);
    CHECK(d.logged("waits: run " + std::to_string(run) + " (pid " + std::to_string(first) +
                   ") in flight (concurrency forbid)"));
    w.clock.advance(seconds(10));
    d.tick(spec);
    CHECK(w.procs.started() == 1);
    w.procs.finish(*w.store, first);
    w.clock.advance(seconds(10));
    d.tick(spec);  // the waiting data starts now: it was not dropped
    CHECK(w.procs.started() == 2);
  } else {
    CHECK(w.procs.procs.at(first).interrupted);
    CHECK(w.procs.started() == 2);
    CHECK(d.logged("cancel p/in run " + std::to_string(run)));
  }
}
