// Integration: `llmops schedule next | list` and the `llmops scheduler` daemon on an accelerated
// test clock (LLMOPS_SCHEDULER_TEST_CLOCK): SIGKILL, restart, nothing fired twice, the missed
// fires caught up; a second scheduler on the same store is refused; a watch entry starts a run
// when new data arrives, records it as `trigger: watch`, and does not fire again after a restart.
#include <regex>

#include <catch2/catch.hpp>

#include "cli_harness.hpp"

using namespace llmops::testing;
using nlohmann::json;

namespace {

constexpr char kEveryMinute[] = R"(apiVersion: llmops/v1
kind: Pipeline
name: ticker
params:
  text: {type: string, default: x}
steps:
  a:
    uses: testing/noop
schedule:
  cron: "* * * * *"
  catchup: all
  max_catchup: 100
  params: {text: scheduled}
)";

// The "start ID @ NOMINAL" lines of a daemon log.
std::vector<std::string> started(const std::string& log) {
  static const std::regex kStart(R"(start (\S+) @ (\S+) \(pid)");
  std::vector<std::string> out;
  for (std::sregex_iterator it(log.begin(), log.end(), kStart), end; it != end; ++it)
    out.push_back((*it)[2].str());
  return out;
}

long long unix_of(const std::string& iso) {
  std::tm tm{};
  strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  return static_cast<long long>(timegm(&tm));
}

}  // namespace

TEST_CASE("schedule next prints local fire times, and an invalid expression exits 2",
          "[cli][schedule]") {
  TempHome t;
  auto r = run_cli(t, {"schedule", "next", "30 2 * * *", "--tz", "America/New_York", "--after",
                       "2024-03-09T00:00:00-05:00", "-n", "3"});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out ==
        "2024-03-09T02:30:00-05:00\n2024-03-10T03:00:00-04:00\n2024-03-11T02:30:00-04:00\n");
  auto j = run_cli(
      t, {"schedule", "next", "@daily", "--after", "2026-01-01T12:00:00Z", "-n", "1", "--json"});
  REQUIRE(j.exit_code == 0);
  CHECK(j.json()["next"][0]["utc"] == "2026-01-02T00:00:00+00:00");
  auto bad = run_cli(t, {"schedule", "next", "0 25 * * *"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("error:") != std::string::npos);
  CHECK(run_cli(t, {"schedule", "next", "0 3 * * *", "--tz", "Mars/Base"}).exit_code == 2);
}

TEST_CASE("schedule list shows each schedule's state and next fire", "[cli][schedule]") {
  TempHome t;
  t.write("pipes/a.yaml", std::string(kEveryMinute) + "  suspend: true\n");
  t.write("pipes/b.yaml", R"(apiVersion: llmops/v1
kind: Pipeline
name: nightly
steps: {a: {uses: testing/noop}}
schedule:
  - {name: early, cron: "0 3 * * *", timezone: Europe/London}
  - cron: "@weekly"
)");
  auto r = run_cli(t, {"schedule", "list", "--dir", (t.path() / "pipes").string(), "--json"});
  REQUIRE(r.exit_code == 0);
  json rows = r.json();
  REQUIRE(rows.size() == 3);
  CHECK(rows[0]["schedule"] == "ticker");
  CHECK(rows[0]["state"] == "suspended");
  CHECK(rows[0]["next"].is_null());
  CHECK(rows[1]["schedule"] == "nightly/early");
  CHECK(rows[1]["state"] == "active");
  CHECK(rows[1]["next"]["local"].get<std::string>().find("T03:00:00") != std::string::npos);
  CHECK(rows[2]["schedule"] == "nightly/2");
  auto text = run_cli(t, {"schedule", "list", "--dir", (t.path() / "pipes").string()});
  CHECK(text.exit_code == 0);
  CHECK(text.out.find("nightly/early") != std::string::npos);
}

TEST_CASE("scheduler: SIGKILL and restart neither fire twice nor forget missed fires",
          "[cli][scheduler]") {
  TempHome t;
  t.write("pipes/ticker.yaml", kEveryMinute);
  const std::string dir = (t.path() / "pipes").string();
  // 30x: a cron minute every 2 real seconds.
  const auto anchor = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const std::vector<std::string> env = {"LLMOPS_SCHEDULER_TEST_CLOCK=" + std::to_string(anchor) +
                                        ":30"};
  const std::vector<std::string> args = {"scheduler", "--dir", dir, "--poll", "0.5"};

  pid_t first = spawn_cli(t, args, "sched1", env);
  REQUIRE(first > 0);
  CHECK(wait_until([&] { return started(slurp(t.path() / "sched1.out")).size() >= 2; }, 30));
  // A second scheduler on the same store is refused.
  auto second = run_cli_env(t, args, env);
  CHECK(second.exit_code == 1);
  CHECK(second.err.find("already running") != std::string::npos);

  kill(first, SIGKILL);
  wait_cli(t, first, "sched1");
  std::this_thread::sleep_for(std::chrono::seconds(5));  // about two fires missed

  pid_t again = spawn_cli(t, args, "sched2", env);
  REQUIRE(again > 0);
  CHECK(wait_until([&] { return started(slurp(t.path() / "sched2.out")).size() >= 4; }, 30));
  kill(again, SIGTERM);
  bool timed_out = false;
  auto stopped = wait_cli_for(t, again, "sched2", 30, &timed_out);
  CHECK_FALSE(timed_out);
  CHECK(stopped.exit_code == 0);
  CHECK(stopped.out.find("scheduler: stopped") != std::string::npos);

  auto a = started(slurp(t.path() / "sched1.out"));
  auto b = started(stopped.out);
  std::vector<std::string> all = a;
  all.insert(all.end(), b.begin(), b.end());
  INFO("first: " << slurp(t.path() / "sched1.out") << "\nsecond: " << stopped.out);
  std::set<std::string> unique(all.begin(), all.end());
  CHECK(unique.size() == all.size());  // nothing fired twice
  // catchup: all: the fires missed while it was down were started after the restart, so the
  // nominal times are consecutive minutes.
  for (size_t i = 1; i < all.size(); ++i) CHECK(unix_of(all[i]) - unix_of(all[i - 1]) == 60);
  CHECK(b.size() >= 4);
  // Every start became a run (the runs of the killed scheduler finish on their own).
  CHECK(wait_until(
      [&] {
        auto rows = sql(db_path(t), "SELECT count(*) FROM runs WHERE state = 'succeeded'");
        return !rows.empty() && std::stoul(rows[0][0]) == all.size();
      },
      30));
  auto last = sql(db_path(t), "SELECT last_nominal_fire FROM schedules WHERE name = 'ticker'");
  REQUIRE(last.size() == 1);
  CHECK(std::llround(std::stod(last[0][0])) == unix_of(all.back()));
  // `schedule list` shows it as the last fire.
  auto listed = run_cli(t, {"schedule", "list", "--dir", dir, "--json"});
  REQUIRE(listed.exit_code == 0);
  CHECK(listed.json()[0]["last"]["utc"] == all.back());
  // ... with the run that fire started.
  auto newest = sql(db_path(t),
                    "SELECT id FROM runs WHERE json_extract(trigger_info_json, "
                    "'$.nominal') = '" +
                        all.back() + "'");
  REQUIRE(newest.size() == 1);
  CHECK(listed.json()[0]["last_run"] == std::stoll(newest[0][0]));
  auto text = run_cli(t, {"schedule", "list", "--dir", dir});
  CHECK(text.out.find(" " + newest[0][0] + " ") != std::string::npos);
}

TEST_CASE("scheduler: an invalid edit keeps the previous definition, and its runs still work",
          "[cli][scheduler]") {
  TempHome t;
  t.write("pipes/ticker.yaml", kEveryMinute);
  const auto anchor = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const std::vector<std::string> env = {"LLMOPS_SCHEDULER_TEST_CLOCK=" + std::to_string(anchor) +
                                        ":30"};
  pid_t pid = spawn_cli(t, {"scheduler", "--dir", (t.path() / "pipes").string(), "--poll", "0.2"},
                        "sched", env);
  REQUIRE(pid > 0);
  const auto log = [&] { return slurp(t.path() / "sched.out"); };
  // After a run has read the file (a run spawned as the file changes reads what is there).
  CHECK(wait_until([&] { return log().find("(exit 0)") != std::string::npos; }, 30));
  t.write("pipes/ticker.yaml", "apiVersion: [\n");
  CHECK(wait_until(
      [&] { return log().find("keeping its previous definition") != std::string::npos; }, 30));
  const size_t before = started(log()).size();
  CHECK(wait_until([&] { return started(log()).size() >= before + 2; }, 30));
  kill(pid, SIGTERM);
  auto r = wait_cli_for(t, pid, "sched", 30);
  INFO(r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("(exit 2)") == std::string::npos);
  CHECK(r.out.find("(exit 0)") != std::string::npos);
  CHECK(r.out.find("YAML syntax error") != std::string::npos);  // the diagnostics are logged
}

TEST_CASE("scheduler: a watch entry starts a run on new data, once, across a restart",
          "[cli][scheduler][watch]") {
  TempHome t;
  const std::string data = (t.path() / "data").string();
  fs::create_directories(data);
  t.write("pipes/sensor.yaml", R"(apiVersion: llmops/v1
kind: Pipeline
name: sensor
steps:
  a:
    uses: testing/noop
schedule:
  - name: incoming
    watch: {glob: ")" + data + R"(/*.jsonl", poll: 1s}
    concurrency: forbid
)");
  const std::vector<std::string> args = {"scheduler", "--dir", (t.path() / "pipes").string(),
                                         "--poll", "0.2"};
  auto starts = [](const std::string& log) {
    size_t n = 0;
    for (size_t at = 0;
         (at = log.find("start sensor/incoming on new data", at)) != std::string::npos; ++at)
      ++n;
    return n;
  };
  pid_t first = spawn_cli(t, args, "w1");
  REQUIRE(first > 0);
  const auto log1 = [&] { return slurp(t.path() / "w1.out"); };
  CHECK(wait_until([&] { return log1().find("first look, 0 file(s)") != std::string::npos; }, 30));
  t.write("data/a.jsonl", "{\"q\": 1}\n");
  CHECK(wait_until([&] { return starts(log1()) == 1; }, 30));
  CHECK(wait_until(
      [&] {
        auto linked = sql(db_path(t), "SELECT 1 FROM schedules WHERE last_run_id IS NOT NULL");
        return sql(db_path(t), "SELECT 1 FROM runs WHERE state = 'succeeded'").size() == 1 &&
               linked.size() == 1;
      },
      30));
  kill(first, SIGKILL);
  wait_cli(t, first, "w1");

  // Restarted: the same data does not start another run; new data does, once.
  pid_t again = spawn_cli(t, args, "w2");
  REQUIRE(again > 0);
  const auto log2 = [&] { return slurp(t.path() / "w2.out"); };
  CHECK(wait_until([&] { return log2().find("unchanged since the last run") != std::string::npos; },
                   30));
  t.write("data/b.jsonl", "{\"q\": 2}\n");
  CHECK(wait_until([&] { return starts(log2()) == 1; }, 30));
  CHECK(wait_until(
      [&] { return sql(db_path(t), "SELECT 1 FROM runs WHERE state = 'succeeded'").size() == 2; },
      30));
  kill(again, SIGTERM);
  auto stopped = wait_cli_for(t, again, "w2", 30);
  INFO("first: " << log1() << "\nsecond: " << stopped.out);
  CHECK(stopped.exit_code == 0);
  CHECK(starts(stopped.out) == 1);
  CHECK(stopped.out.find("first look") == std::string::npos);

  auto runs = sql(db_path(t),
                  "SELECT id, trigger_kind, json_extract(trigger_info_json, '$.files'), "
                  "json_extract(trigger_info_json, '$.digest') FROM runs ORDER BY id");
  REQUIRE(runs.size() == 2);
  CHECK(runs[0][1] == "watch");
  CHECK(runs[0][2] == "[\"" + data + "/a.jsonl\"]");
  CHECK(runs[1][2] == "[\"" + data + "/a.jsonl\",\"" + data + "/b.jsonl\"]");
  CHECK(runs[0][3] != runs[1][3]);
  auto listed = run_cli(t, {"schedule", "list", "--dir", (t.path() / "pipes").string(), "--json"});
  REQUIRE(listed.exit_code == 0);
  const json row = listed.json().at(0);
  CHECK(row["kind"] == "watch");
  CHECK(row["last_run"] == std::stoll(runs[1][0]));
  CHECK(row["last_digest"] == runs[1][3]);
  CHECK(row["next"].is_null());
}
