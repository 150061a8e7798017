// CronScheduler decisions with a FakeClock (no sleeping): catch-up, starting deadline,
// concurrency policies, jitter, suspend, and DST transitions.
#include <catch2/catch.hpp>

#include "engine/spec/loader.hpp"
#include "engine/triggers/cron_scheduler.hpp"

using namespace llmops::engine;
using Kind = ScheduleDecision::Kind;

namespace {

SysSeconds at(const std::string& iso, const std::string& tz = "UTC") {
  auto t = parse_iso8601(iso, tz);
  REQUIRE(t.is_ok());
  return *t;
}

ScheduleSpec make(const std::string& expr, const std::string& tz = "UTC") {
  ScheduleSpec s;
  s.id = "p";
  s.expression = expr;
  s.timezone = tz;
  auto c = CronSpec::parse(expr, tz);
  REQUIRE(c.is_ok());
  s.cron = *c;
  return s;
}

std::vector<ScheduleDecision> of_kind(const SchedulePlan& plan, Kind k) {
  std::vector<ScheduleDecision> out;
  for (const auto& d : plan.decisions)
    if (d.kind == k) out.push_back(d);
  return out;
}

std::vector<std::string> starts(const SchedulePlan& plan, const std::string& tz = "UTC") {
  std::vector<std::string> out;
  for (const auto& d : of_kind(plan, Kind::kStart)) out.push_back(format_local_iso(d.nominal, tz));
  return out;
}

// Drives the scheduler like the daemon: applies each plan's new `last`, steps the clock.
struct Driver {
  ScheduleSpec spec;
  FakeClock clock;
  CronScheduler scheduler;
  std::optional<SysSeconds> last;
  std::vector<int64_t> running;
  Driver(ScheduleSpec s, SysSeconds t0, CronScheduler::Options o = {})
      : spec(std::move(s)), clock(t0), scheduler(clock, o) {}
  SchedulePlan step() {
    auto plan = scheduler.decide({{&spec, last, running}});
    for (const auto& [id, t] : plan.last_nominal) last = t;
    return plan;
  }
};

using V = std::vector<std::string>;

}  // namespace

TEST_CASE("a new schedule starts counting from now and wakes at the next fire",
          "[cron_scheduler]") {
  Driver d(make("0 3 * * *"), at("2026-01-01T10:00:00Z"));
  auto plan = d.step();
  CHECK(plan.decisions.empty());
  REQUIRE(d.last);
  CHECK(*d.last == at("2026-01-01T10:00:00Z"));
  REQUIRE(plan.wake_at);
  CHECK(*plan.wake_at == at("2026-01-02T03:00:00Z"));
  d.clock.set(at("2026-01-02T03:00:00Z"));
  CHECK(starts(d.step()) == V{"2026-01-02T03:00:00+00:00"});
  CHECK(d.step().decisions.empty());  // never twice
}

TEST_CASE("catch-up after downtime", "[cron_scheduler]") {
  auto spec = make("0 * * * *");
  spec.params = {{"steps", 5}};
  Driver d(spec, at("2026-01-01T00:30:00Z"));
  d.last = at("2026-01-01T00:00:00Z");
  d.clock.set(at("2026-01-01T05:10:00Z"));  // 01:00..05:00 missed

  SECTION("latest starts only the most recent and reports the others skipped") {
    d.spec.catchup = CatchupPolicy::kLatest;
    auto plan = d.step();
    CHECK(starts(plan) == V{"2026-01-01T05:00:00+00:00"});
    CHECK(of_kind(plan, Kind::kStart)[0].params["steps"] == 5);
    auto skipped = of_kind(plan, Kind::kSkipped);
    REQUIRE(skipped.size() == 1);
    CHECK(skipped[0].count == 4);
    CHECK(*d.last == at("2026-01-01T05:00:00Z"));
  }
  SECTION("all starts every missed fire, oldest first") {
    d.spec.catchup = CatchupPolicy::kAll;
    CHECK(starts(d.step()) == V{"2026-01-01T01:00:00+00:00", "2026-01-01T02:00:00+00:00",
                                "2026-01-01T03:00:00+00:00", "2026-01-01T04:00:00+00:00",
                                "2026-01-01T05:00:00+00:00"});
  }
  SECTION("all beyond max_catchup starts the latest ones and counts the skipped") {
    d.spec.catchup = CatchupPolicy::kAll;
    d.spec.max_catchup = 2;
    auto plan = d.step();
    CHECK(starts(plan) == V{"2026-01-01T04:00:00+00:00", "2026-01-01T05:00:00+00:00"});
    auto skipped = of_kind(plan, Kind::kSkipped);
    REQUIRE(skipped.size() == 1);
    CHECK(skipped[0].count == 3);
  }
  SECTION("none skips everything that is not on time") {
    d.spec.catchup = CatchupPolicy::kNone;
    auto plan = d.step();
    CHECK(starts(plan).empty());
    CHECK(of_kind(plan, Kind::kSkipped).at(0).count == 5);
    CHECK(*d.last == at("2026-01-01T05:00:00Z"));
    d.clock.set(at("2026-01-01T06:00:30Z"));  // within the grace: on time
    CHECK(starts(d.step()) == V{"2026-01-01T06:00:00+00:00"});
  }
  SECTION("a long downtime on an every-minute schedule is counted, not listed") {
    d.spec = make("* * * * *");
    d.spec.catchup = CatchupPolicy::kLatest;
    d.clock.set(at("2026-03-01T00:00:00Z"));
    auto plan = d.step();
    CHECK(starts(plan) == V{"2026-03-01T00:00:00+00:00"});
    CHECK(of_kind(plan, Kind::kSkipped).at(0).count > 1000);
  }
}

TEST_CASE("starting deadline: a fire that cannot start in time is missed", "[cron_scheduler]") {
  auto spec = make("0 * * * *");
  spec.catchup = CatchupPolicy::kAll;
  spec.starting_deadline_s = 90 * 60;
  Driver d(spec, at("2026-01-01T00:00:00Z"));
  d.last = at("2026-01-01T00:00:00Z");
  d.clock.set(at("2026-01-01T04:00:00Z"));
  auto plan = d.step();
  // 01:00 and 02:00 are more than 90 minutes late; 03:00 and 04:00 still start.
  CHECK(starts(plan) == V{"2026-01-01T03:00:00+00:00", "2026-01-01T04:00:00+00:00"});
  auto missed = of_kind(plan, Kind::kMissed);
  REQUIRE(missed.size() == 1);
  CHECK(missed[0].count == 2);
  CHECK(missed[0].nominal == at("2026-01-01T02:00:00Z"));
  CHECK(*d.last == at("2026-01-01T04:00:00Z"));
}

TEST_CASE("concurrency policies", "[cron_scheduler]") {
  auto spec = make("*/10 * * * *");
  Driver d(spec, at("2026-01-01T00:10:00Z"));
  d.last = at("2026-01-01T00:00:00Z");
  d.running = {42};
  SECTION("allow starts beside the running one") {
    d.spec.concurrency = ConcurrencyPolicy::kAllow;
    CHECK(starts(d.step()).size() == 1);
  }
  SECTION("forbid skips the fire") {
    d.spec.concurrency = ConcurrencyPolicy::kForbid;
    auto plan = d.step();
    CHECK(starts(plan).empty());
    CHECK(of_kind(plan, Kind::kSkipped).size() == 1);
    CHECK(*d.last == at("2026-01-01T00:10:00Z"));  // not retried later
    d.running.clear();
    d.clock.set(at("2026-01-01T00:20:00Z"));
    CHECK(starts(d.step()) == V{"2026-01-01T00:20:00+00:00"});
  }
  SECTION("forbid with catch-up all starts one at a time") {
    d.spec.concurrency = ConcurrencyPolicy::kForbid;
    d.spec.catchup = CatchupPolicy::kAll;
    d.running.clear();
    d.clock.set(at("2026-01-01T00:30:00Z"));
    auto plan = d.step();
    CHECK(starts(plan) == V{"2026-01-01T00:10:00+00:00"});
    CHECK(of_kind(plan, Kind::kSkipped).at(0).count == 2);
  }
  SECTION("replace cancels the running one, then starts") {
    d.spec.concurrency = ConcurrencyPolicy::kReplace;
    auto plan = d.step();
    REQUIRE(plan.decisions.size() == 2);
    CHECK(plan.decisions[0].kind == Kind::kCancel);
    CHECK(plan.decisions[0].run_id == 42);
    CHECK(plan.decisions[1].kind == Kind::kStart);
  }
}

TEST_CASE("suspend skips fires and does not catch up on resume", "[cron_scheduler]") {
  auto spec = make("0 * * * *");
  spec.suspend = true;
  spec.catchup = CatchupPolicy::kAll;
  Driver d(spec, at("2026-01-01T00:00:00Z"));
  d.last = at("2026-01-01T00:00:00Z");
  d.clock.set(at("2026-01-01T03:30:00Z"));
  auto plan = d.step();
  CHECK(starts(plan).empty());
  CHECK(of_kind(plan, Kind::kSkipped).at(0).reason == "suspended");
  CHECK(!plan.wake_at);
  d.spec.suspend = false;
  CHECK(d.step().decisions.empty());
  d.clock.set(at("2026-01-01T04:00:00Z"));
  CHECK(starts(d.step()) == V{"2026-01-01T04:00:00+00:00"});
}

TEST_CASE("jitter delays a fire deterministically, within its bound", "[cron_scheduler]") {
  auto spec = make("0 3 * * *");
  spec.jitter_s = 600;
  FakeClock clock(at("2026-01-01T00:00:00Z"));
  CronScheduler a(clock, {7, std::chrono::seconds(60), 100000});
  CronScheduler b(clock, {7, std::chrono::seconds(60), 100000});
  CronScheduler c(clock, {8, std::chrono::seconds(60), 100000});
  bool differs = false;
  for (int day = 1; day <= 20; ++day) {
    SysSeconds n = at("2026-01-01T03:00:00Z") + std::chrono::hours(24 * day);
    auto da = a.due_time(spec, n);
    CHECK(da >= n);
    CHECK(da < n + std::chrono::seconds(600));
    CHECK(da == b.due_time(spec, n));
    differs = differs || da != c.due_time(spec, n);
  }
  CHECK(differs);

  Driver d(spec, at("2026-01-02T03:00:00Z"), {7, std::chrono::seconds(60), 100000});
  d.last = at("2026-01-02T00:00:00Z");
  const SysSeconds due = d.scheduler.due_time(d.spec, at("2026-01-02T03:00:00Z"));
  if (due > d.clock.now()) {
    auto plan = d.step();
    CHECK(starts(plan).empty());
    CHECK(*plan.wake_at == due);
  }
  d.clock.set(due);
  auto plan = d.step();
  REQUIRE(of_kind(plan, Kind::kStart).size() == 1);
  CHECK(of_kind(plan, Kind::kStart)[0].due == due);
}

TEST_CASE("DST: fires across transitions are neither lost nor doubled", "[cron_scheduler][dst]") {
  SECTION("New York spring forward: 02:30 fires once at 03:00") {
    const std::string ny = "America/New_York";
    Driver d(make("30 2 * * *", ny), at("2024-03-09T12:00:00", ny));
    d.step();
    d.clock.set(at("2024-03-10T12:00:00", ny));
    d.spec.catchup = CatchupPolicy::kAll;
    CHECK(starts(d.step(), ny) == V{"2024-03-10T03:00:00-04:00"});
  }
  SECTION("New York fall back: 01:30 fixed-time fires once") {
    const std::string ny = "America/New_York";
    Driver d(make("30 1 * * *", ny), at("2024-11-02T12:00:00", ny));
    d.spec.catchup = CatchupPolicy::kAll;
    d.step();
    d.clock.set(at("2024-11-03T12:00:00", ny));
    CHECK(starts(d.step(), ny) == V{"2024-11-03T01:30:00-04:00"});
  }
  SECTION("London fall back: an hourly wildcard job fires on both passes") {
    const std::string lon = "Europe/London";
    auto spec = make("30 * * * *", lon);
    spec.catchup = CatchupPolicy::kAll;
    Driver d(spec, at("2024-10-27T00:00:00+01:00"));
    d.last = at("2024-10-27T00:00:00+01:00");
    d.clock.set(at("2024-10-27T02:00:00+00:00"));
    CHECK(starts(d.step(), lon) ==
          V{"2024-10-27T00:30:00+01:00", "2024-10-27T01:30:00+01:00", "2024-10-27T01:30:00+00:00"});
  }
  SECTION("Sydney spring forward, stepping the clock one hour at a time") {
    const std::string syd = "Australia/Sydney";
    auto spec = make("0 2 * * *", syd);
    Driver d(spec, at("2024-10-05T12:00:00", syd));
    d.step();
    V all;
    for (int h = 0; h < 48; ++h) {
      d.clock.advance(std::chrono::hours(1));
      for (auto& s : starts(d.step(), syd)) all.push_back(s);
    }
    CHECK(all == V{"2024-10-06T03:00:00+11:00", "2024-10-07T02:00:00+11:00"});
  }
}

TEST_CASE("schedules load from the pipeline file", "[cron_scheduler][loader]") {
  auto r = load_pipeline_text(R"(apiVersion: llmops/v1
kind: Pipeline
name: p
params: {n: 1}
steps: {a: {uses: testing/noop}}
schedule:
  cron: "0 3 * * *"
  timezone: Europe/Paris
  params: {n: 5}
  concurrency: replace
  catchup: all
  max_catchup: 4
  starting_deadline: 2h
  jitter: 30s
  suspend: true
)",
                              "p.yaml");
  REQUIRE(r.ok());
  REQUIRE(r.spec->schedules.size() == 1);
  const auto& s = r.spec->schedules[0];
  CHECK(s.id == "p");
  CHECK(s.timezone == "Europe/Paris");
  CHECK(s.params["n"] == 5);
  CHECK(s.concurrency == ConcurrencyPolicy::kReplace);
  CHECK(s.catchup == CatchupPolicy::kAll);
  CHECK(s.max_catchup == 4);
  CHECK(s.starting_deadline_s == 7200);
  CHECK(s.jitter_s == 30);
  CHECK(s.suspend);
  REQUIRE(s.cron);
  CHECK(s.cron_pos.line == 7);
}
