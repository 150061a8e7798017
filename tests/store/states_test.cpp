// State: one enum in the store's API, the same words in its TEXT columns as before it existed.
#include <catch2/catch.hpp>

#include <SQLiteCpp/SQLiteCpp.h>

#include "store/states.hpp"
#include "store/store.hpp"
#include "store_test_util.hpp"

namespace fs = std::filesystem;
using namespace llmops::store;
using llmops::store::testing::open_store;
using llmops::store::testing::TempDir;

namespace {

constexpr State kAll[] = {State::kPending, State::kRunning, State::kSucceeded, State::kFailed,
                          State::kSkipped, State::kCached,  State::kCancelled};

std::string column(const fs::path& home, const std::string& sql) {
  SQLite::Database db((home / "llmops.db").string());
  SQLite::Statement q(db, sql);
  REQUIRE(q.executeStep());
  return q.getColumn(0).getString();
}

void write_sql(const fs::path& home, const std::string& sql) {
  SQLite::Database db((home / "llmops.db").string(), SQLite::OPEN_READWRITE);
  db.exec(sql);
}

}  // namespace

TEST_CASE("every state reads back from its word, and nothing else parses", "[store][states]") {
  for (State s : kAll) CHECK(parse_state(to_string(s)) == s);
  CHECK(std::string(to_string(State::kCancelled)) == "cancelled");
  CHECK_FALSE(parse_state(""));
  CHECK_FALSE(parse_state("Succeeded"));
  CHECK_FALSE(parse_state("retrying"));  // what the CLI shows, not a state
  CHECK(is_terminal(State::kSkipped));
  CHECK_FALSE(is_terminal(State::kRunning));
  CHECK(is_success(State::kCached));
  CHECK_FALSE(is_success(State::kSkipped));
  CHECK_FALSE(is_run_state(State::kCached));
}

TEST_CASE("the database keeps the same words in its state columns", "[store][states]") {
  TempDir tmp;
  const auto home = tmp.path / "home";
  auto st = open_store(home);
  NewRun r;
  r.pipeline = "p";
  auto run = st->create_run(r, {"a", "b"});
  REQUIRE(run);
  REQUIRE(st->set_run_state(*run, State::kRunning));
  REQUIRE(st->set_step_state(*run, "b", State::kSkipped, "upstream a failed"));
  auto ex = st->begin_execution(*run, "a", 1, "testing/noop", "1.0.0", "", "", "");
  REQUIRE(ex);
  REQUIRE(st->finish_execution(*ex, {State::kCancelled, "stop", {}, {}, {}}));
  CHECK(column(home, "SELECT state FROM runs") == "running");
  CHECK(column(home, "SELECT state FROM run_steps WHERE step = 'a'") == "cancelled");
  CHECK(column(home, "SELECT state FROM run_steps WHERE step = 'b'") == "skipped");
  CHECK(column(home, "SELECT state FROM executions") == "cancelled");
}

TEST_CASE("a state the store does not know is an error that says where", "[store][states]") {
  TempDir tmp;
  const auto home = tmp.path / "home";
  auto st = open_store(home);
  NewRun r;
  r.pipeline = "p";
  auto run = st->create_run(r, {"a"});
  REQUIRE(run);
  auto ex = st->begin_execution(*run, "a", 1, "testing/noop", "1.0.0", "", "", "");
  REQUIRE(ex);
  const std::string id = std::to_string(*run);

  SECTION("a run") {
    write_sql(home, "UPDATE runs SET state = 'paused'");
    auto got = st->get_run(*run);
    REQUIRE_FALSE(got);
    CHECK_THAT(got.status().message(), Catch::Contains("runs.state of run " + id + " is 'paused'"));
    CHECK_FALSE(st->list_runs());
  }
  SECTION("a step") {
    write_sql(home, "UPDATE run_steps SET state = 'paused'");
    auto got = st->list_steps(*run);
    REQUIRE_FALSE(got);
    CHECK_THAT(got.status().message(),
               Catch::Contains("run_steps.state of step 'a' in run " + id + " is 'paused'"));
  }
  SECTION("an execution") {
    write_sql(home, "UPDATE executions SET state = 'paused'");
    auto got = st->list_executions(*run);
    REQUIRE_FALSE(got);
    CHECK_THAT(got.status().message(), Catch::Contains("executions.state of execution " +
                                                       std::to_string(*ex) + " is 'paused'"));
    CHECK_FALSE(st->finish_execution(*ex, {State::kSucceeded, "", {}, {}, {}}));
  }
}

TEST_CASE("each record takes only the states it can be in", "[store][states]") {
  TempDir tmp;
  auto st = open_store(tmp.path / "home");
  NewRun r;
  r.pipeline = "p";
  auto run = st->create_run(r, {"a"});
  REQUIRE(run);
  CHECK_FALSE(st->set_run_state(*run, State::kCached));
  CHECK(st->set_step_state(*run, "a", State::kCached));
  auto ex = st->begin_execution(*run, "a", 1, "testing/noop", "1.0.0", "", "", "");
  REQUIRE(ex);
  CHECK_FALSE(st->finish_execution(*ex, {}));  // an outcome nobody set
  CHECK_FALSE(st->finish_execution(*ex, {State::kSkipped, "", {}, {}, {}}));
  CHECK(st->finish_execution(*ex, {State::kFailed, "boom", {}, {}, {}}));
}
