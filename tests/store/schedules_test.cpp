// Store: the `schedules` table of the cron scheduler and the cron runs still in flight.
#include <catch2/catch.hpp>

#include "store/store.hpp"
#include "store_test_util.hpp"

using namespace llmops::store;
using llmops::store::testing::TempDir;

TEST_CASE("schedule state is upserted and read back", "[store][schedules]") {
  TempDir tmp;
  auto opened = Store::open(tmp.path);
  REQUIRE(opened);
  auto& store = *opened.value();
  auto none = store.get_schedule("p");
  REQUIRE(none);
  CHECK_FALSE(none.value().has_value());

  ScheduleState s;
  s.name = "p/nightly";
  s.pipeline_file = "pipelines/p.yaml";
  s.cron = "0 3 * * *";
  s.timezone = "Europe/London";
  s.last_nominal_fire = 1795000000;
  REQUIRE(store.put_schedule(s));
  s.last_nominal_fire = 1795086400;
  REQUIRE(store.put_schedule(s));  // an update, not a second row
  ScheduleState other;
  other.name = "a";
  REQUIRE(store.put_schedule(other));

  auto all = store.list_schedules();
  REQUIRE(all);
  REQUIRE(all.value().size() == 2);
  CHECK(all.value()[0].name == "a");
  CHECK_FALSE(all.value()[0].last_nominal_fire);
  auto got = store.get_schedule("p/nightly");
  REQUIRE(got);
  REQUIRE(got.value());
  CHECK(got.value()->timezone == "Europe/London");
  CHECK(*got.value()->last_nominal_fire == 1795086400);
  CHECK(got.value()->updated_at > 0);
}

TEST_CASE("cron runs in flight are found by schedule", "[store][schedules]") {
  TempDir tmp;
  auto opened = Store::open(tmp.path);
  REQUIRE(opened);
  auto& store = *opened.value();
  NewRun r;
  r.pipeline = "p";
  r.trigger = "cron";
  r.trigger_info_json = R"({"schedule":"p/nightly","nominal_unix":1795000000})";
  auto a = store.create_run(r, {"x"});
  auto b = store.create_run(r, {"x"});
  r.trigger_info_json = R"({"schedule":"p/other"})";
  auto c = store.create_run(r, {"x"});
  REQUIRE((a && b && c));
  REQUIRE(store.set_run_state(b.value(), State::kSucceeded));
  auto running = store.schedule_runs_in_flight("p/nightly");
  REQUIRE(running);
  CHECK(running.value() == std::vector<int64_t>{a.value()});
}
