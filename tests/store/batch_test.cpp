// Store::Batch: several calls, one transaction; each call still all-or-nothing inside it.
#include <catch2/catch.hpp>

#include <SQLiteCpp/SQLiteCpp.h>

#include "store/store.hpp"
#include "store_test_util.hpp"

namespace fs = std::filesystem;
using namespace llmops::store;
using llmops::store::testing::open_store;
using llmops::store::testing::TempDir;

namespace {

int64_t new_run(Store& st, const std::vector<std::string>& steps) {
  NewRun r;
  r.pipeline = "batch";
  r.pipeline_file = "batch.yaml";
  r.spec_text = "name: batch\n";
  auto id = st.create_run(r, steps);
  REQUIRE(id);
  return id.value();
}

// What a second connection sees: only committed writes.
std::string step_state_elsewhere(const fs::path& home, int64_t run, const std::string& step) {
  SQLite::Database db((home / "llmops.db").string());
  SQLite::Statement q(db, "SELECT state FROM run_steps WHERE run_id = ? AND step = ?");
  q.bind(1, run);
  q.bind(2, step);
  REQUIRE(q.executeStep());
  return q.getColumn(0).getString();
}

}  // namespace

TEST_CASE("a committed batch makes all its writes visible at once", "[store][batch]") {
  TempDir tmp;
  const auto home = tmp.path / "home";
  auto st = open_store(home);
  const int64_t run = new_run(*st, {"a", "b"});
  auto batch = st->batch();
  REQUIRE(batch);
  REQUIRE(st->set_step_state(run, "a", State::kSucceeded));
  REQUIRE(st->begin_execution(run, "b", 1, "testing/noop", "1.0.0", "", "", ""));
  CHECK(step_state_elsewhere(home, run, "a") == "pending");  // not committed yet
  CHECK(step_state_elsewhere(home, run, "b") == "pending");
  CHECK_FALSE(st->batch());  // one at a time
  REQUIRE(batch->commit());
  CHECK(step_state_elsewhere(home, run, "a") == "succeeded");
  CHECK(step_state_elsewhere(home, run, "b") == "running");
  CHECK_FALSE(batch->commit());  // already closed
  CHECK(st->batch());            // and a new one can open
}

TEST_CASE("a batch dropped without commit rolls everything back", "[store][batch]") {
  TempDir tmp;
  const auto home = tmp.path / "home";
  auto st = open_store(home);
  const int64_t run = new_run(*st, {"a"});
  {
    auto batch = st->batch();
    REQUIRE(batch);
    REQUIRE(st->set_step_state(run, "a", State::kFailed, "boom"));
  }
  CHECK(step_state_elsewhere(home, run, "a") == "pending");
  REQUIRE(st->set_step_state(run, "a", State::kSkipped));  // calls commit on their own again
  CHECK(step_state_elsewhere(home, run, "a") == "skipped");
}

TEST_CASE("a failing call inside a batch undoes only itself", "[store][batch]") {
  TempDir tmp;
  const auto home = tmp.path / "home";
  auto st = open_store(home);
  const int64_t run = new_run(*st, {"a", "b"});
  auto ex = st->begin_execution(run, "a", 1, "testing/noop", "1.0.0", "", "", "");
  REQUIRE(ex);
  auto batch = st->batch();
  REQUIRE(batch);
  REQUIRE(st->set_step_state(run, "b", State::kSkipped));
  // An output whose artifact has no digest makes finish_execution fail part-way through.
  ExecutionResult bad;
  bad.state = State::kSucceeded;
  Event out;
  out.role = "model";
  out.artifact.kind = "model";
  bad.outputs.push_back(out);
  CHECK_FALSE(st->finish_execution(ex.value(), bad));
  REQUIRE(st->finish_execution(ex.value(), {State::kFailed, "gave up", {}, {}, {}}));
  REQUIRE(batch->commit());
  CHECK(step_state_elsewhere(home, run, "a") == "failed");
  CHECK(step_state_elsewhere(home, run, "b") == "skipped");
  auto execs = st->list_executions(run);
  REQUIRE(execs);
  REQUIRE(execs->size() == 1);
  CHECK(execs->front().state == State::kFailed);
}
