// Store: migrations, runs and steps, executions, the cache and interrupted runs.
#include <catch2/catch.hpp>

#include <SQLiteCpp/SQLiteCpp.h>

#include "base/hash.hpp"
#include "store/migrations.hpp"
#include "store/store.hpp"
#include "store_test_util.hpp"

namespace fs = std::filesystem;
using namespace llmops::store;
using llmops::store::testing::open_store;
using llmops::store::testing::TempDir;

namespace {

NewRun sample_run(const std::string& pipeline = "demo") {
  NewRun r;
  r.pipeline = pipeline;
  r.pipeline_file = "pipelines/" + pipeline + ".yaml";
  r.spec_digest = "sha256:" + llmops::base::sha256_hex("spec");
  r.spec_text = "name: demo\n";
  r.params_json = R"({"lr":0.1})";
  return r;
}

Artifact artifact(const std::string& content, const std::string& kind, const std::string& name) {
  Artifact a;
  a.digest = "sha256:" + llmops::base::sha256_hex(content);
  a.kind = kind;
  a.name = name;
  a.uri = "/blobs/" + content;
  a.size = static_cast<int64_t>(content.size());
  return a;
}

}  // namespace

TEST_CASE("a new database is migrated to the supported schema", "[store]") {
  TempDir tmp;
  auto store = open_store(tmp.path / "home");
  CHECK(fs::exists(tmp.path / "home" / "llmops.db"));
  CHECK(fs::is_directory(tmp.path / "home" / "blobs"));
  CHECK(store->blobs().root() == tmp.path / "home" / "blobs");
  CHECK(store->home() == tmp.path / "home");
  store.reset();

  SQLite::Database db((tmp.path / "home" / "llmops.db").string());
  SQLite::Statement v(db, "SELECT MAX(version) FROM schema_version");
  REQUIRE(v.executeStep());
  CHECK(v.getColumn(0).getInt() == schema_version_supported());
  for (const char* table :
       {"pipelines", "runs", "run_steps", "executions", "artifacts", "events", "metrics",
        "triggers", "schedules", "deployments", "deployment_history"}) {
    INFO(table);
    CHECK(db.tableExists(table));
  }
  CHECK(db.execAndGet("PRAGMA journal_mode").getString() == "wal");
  // The cache lookup (the query of find_cached) searches an index on the key, which leaves out
  // executions without one (version 4); no index on state alone (version 3).
  SQLite::Statement plan(db,
                         "EXPLAIN QUERY PLAN SELECT id FROM executions WHERE cache_key = 'k' AND "
                         "cache_key <> '' AND state IN ('succeeded', 'cached') ORDER BY id DESC "
                         "LIMIT 1");
  std::string detail;
  while (plan.executeStep()) detail += plan.getColumn(3).getString() + "\n";
  CHECK_THAT(detail, Catch::Contains("executions_key"));
  CHECK(db.execAndGet("SELECT COUNT(*) FROM sqlite_master WHERE name = 'executions_state'")
            .getInt() == 0);

  // Reopening applies nothing and keeps the data.
  auto again = open_store(tmp.path / "home");
  CHECK(again->list_runs()->empty());
}

TEST_CASE("version 4 rebuilds executions and keeps their rows and lineage", "[store]") {
  TempDir tmp;
  const auto db_path = tmp.path / "llmops.db";
  {
    // A version-3 database with a run whose second execution wrote an artifact.
    SQLite::Database db(db_path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)");
    for (int v = 1; v <= 3; ++v) {
      db.exec(migrations()[size_t(v - 1)]);
      db.exec("INSERT INTO schema_version VALUES (" + std::to_string(v) + ", 0)");
    }
    db.exec(R"sql(
      INSERT INTO pipelines(name, created_at, updated_at) VALUES ('demo', 0, 0);
      INSERT INTO runs(id, pipeline, state, created_at) VALUES (7, 'demo', 'succeeded', 0);
      INSERT INTO run_steps(run_id, step, state) VALUES (7, 'train', 'succeeded');
      INSERT INTO executions(id, run_id, step, attempt, state, cache_key)
        VALUES (40, 7, 'train', 1, 'failed', 'k'), (41, 7, 'train', 2, 'succeeded', 'k');
      INSERT INTO artifacts(digest, kind, created_at) VALUES ('sha256:m', 'model', 0);
      INSERT INTO events(execution_id, artifact_digest, direction, role)
        VALUES (41, 'sha256:m', 'output', 'model');
      INSERT INTO metrics(execution_id, name, value, time) VALUES (41, 'loss', 0.5, 0);
    )sql");
    CHECK(
        db.execAndGet("SELECT COUNT(*) FROM sqlite_sequence WHERE name = 'executions'").getInt() ==
        1);
  }
  auto store = open_store(tmp.path);
  auto execs = store->list_executions(7);
  REQUIRE(execs);
  REQUIRE(execs->size() == 2);
  CHECK((*execs)[0].id == 40);
  CHECK((*execs)[1].id == 41);
  CHECK((*execs)[1].state == State::kSucceeded);
  auto outs = store->execution_events(41, true);
  REQUIRE(outs);
  REQUIRE(outs->size() == 1);
  CHECK(outs->front().artifact.kind == "model");
  auto hit = store->find_cached("k");
  REQUIRE(hit);
  REQUIRE(hit->has_value());
  CHECK((*hit)->id == 41);
  // New executions continue after the highest id, and foreign keys are enforced again.
  REQUIRE(store->set_step_state(7, "train", State::kPending));
  auto next = store->begin_execution(7, "train", 3, "p", "1", "d", "k2", "log");
  REQUIRE(next);
  CHECK(next.value() == 42);
  CHECK_FALSE(store->begin_execution(7, "no-such-step", 1, "p", "1", "d", "", "log"));
  store.reset();
  SQLite::Database db(db_path.string());
  CHECK(db.execAndGet("SELECT COUNT(*) FROM sqlite_sequence WHERE name = 'executions'").getInt() ==
        0);
  CHECK(db.execAndGet("SELECT COUNT(*) FROM pragma_foreign_key_check").getInt() == 0);
  CHECK(db.execAndGet("SELECT COUNT(*) FROM sqlite_master WHERE name IN ('executions_run', "
                      "'executions_key')")
            .getInt() == 2);
}

TEST_CASE("an older binary refuses a newer database", "[store]") {
  TempDir tmp;
  open_store(tmp.path);
  {
    SQLite::Database db((tmp.path / "llmops.db").string(), SQLite::OPEN_READWRITE);
    db.exec("INSERT INTO schema_version(version, applied_at) VALUES (99, 0)");
  }
  auto s = Store::open(tmp.path);
  REQUIRE_FALSE(s);
  const std::string msg = s.status().message();
  INFO(msg);
  CHECK(msg.find("schema version 99") != std::string::npos);
  CHECK(msg.find("supports up to " + std::to_string(schema_version_supported())) !=
        std::string::npos);
  CHECK(msg.find("upgrade llmops") != std::string::npos);
}

TEST_CASE("run, step and execution lifecycle", "[store]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  auto run_id = store->create_run(sample_run(), {"prepare", "train", "eval"});
  REQUIRE(run_id);

  auto run = store->get_run(*run_id);
  REQUIRE(run);
  CHECK(run->pipeline == "demo");
  CHECK(run->state == State::kPending);
  CHECK(run->trigger == "manual");
  CHECK(run->params_json == R"({"lr":0.1})");
  CHECK(run->spec_text == "name: demo\n");
  CHECK_FALSE(run->parent_run);
  CHECK(run->created_at > 0);
  CHECK(run->started_at == 0);

  auto steps = store->list_steps(*run_id);
  REQUIRE(steps);
  REQUIRE(steps->size() == 3);
  CHECK((*steps)[0].step == "prepare");  // planned order
  CHECK((*steps)[2].step == "eval");
  for (const auto& s : *steps) CHECK(s.state == State::kPending);

  REQUIRE(store->set_run_state(*run_id, State::kRunning));
  auto ex = store->begin_execution(*run_id, "prepare", 1, "testing/write", "1.0.0", "sha256:plugin",
                                   "key-1", "/logs/prepare.log");
  REQUIRE(ex);
  steps = store->list_steps(*run_id);
  CHECK((*steps)[0].state == State::kRunning);
  CHECK((*steps)[0].attempts == 1);
  CHECK((*steps)[0].started_at > 0);

  ExecutionResult res;
  res.state = State::kFailed;
  res.error = "boom";
  REQUIRE(store->finish_execution(*ex, res));
  auto ex2 = store->begin_execution(*run_id, "prepare", 2, "testing/write", "1.0.0",
                                    "sha256:plugin", "key-1", "/logs/prepare.2.log");
  REQUIRE(ex2);
  steps = store->list_steps(*run_id);
  CHECK((*steps)[0].attempts == 2);
  CHECK((*steps)[0].state == State::kRunning);
  res.state = State::kSucceeded;
  res.error.clear();
  REQUIRE(store->finish_execution(*ex2, res));
  CHECK_FALSE(store->finish_execution(*ex2, res));  // already finished

  REQUIRE(store->set_step_state(*run_id, "eval", State::kSkipped, "train failed"));
  REQUIRE(store->set_run_state(*run_id, State::kFailed, "step train failed"));

  auto execs = store->list_executions(*run_id);
  REQUIRE(execs);
  REQUIRE(execs->size() == 2);
  CHECK((*execs)[0].state == State::kFailed);
  CHECK((*execs)[0].error == "boom");
  CHECK((*execs)[0].attempt == 1);
  CHECK((*execs)[1].state == State::kSucceeded);
  CHECK((*execs)[1].plugin_id == "testing/write");
  CHECK((*execs)[1].log_path == "/logs/prepare.2.log");
  CHECK((*execs)[1].ended_at >= (*execs)[1].started_at);

  steps = store->list_steps(*run_id);
  CHECK((*steps)[0].state == State::kSucceeded);
  CHECK((*steps)[2].state == State::kSkipped);
  CHECK((*steps)[2].reason == "train failed");
  run = store->get_run(*run_id);
  CHECK(run->state == State::kFailed);
  CHECK(run->error == "step train failed");
  CHECK(run->ended_at > 0);

  // Errors are reported, not thrown.
  CHECK_FALSE(store->get_run(12345));
  CHECK(store->get_run(12345).status().code() == llmops::StatusCode::kNotFound);
  CHECK_FALSE(store->set_step_state(*run_id, "nope", State::kRunning));
  CHECK_FALSE(store->set_run_state(*run_id, State::kSkipped));  // steps are skipped, runs never
  CHECK_FALSE(store->begin_execution(*run_id, "nope", 1, "p", "1", "d", "", ""));

  // Child runs (feedback) point at their parent.
  NewRun child = sample_run();
  child.trigger = "feedback";
  child.parent_run = *run_id;
  child.cycle = 1;
  auto child_id = store->create_run(child, {"prepare"});
  REQUIRE(child_id);
  auto runs = store->list_runs(10);
  REQUIRE(runs->size() == 2);
  CHECK((*runs)[0].id == *child_id);  // newest first
  CHECK((*runs)[0].parent_run == *run_id);
  CHECK((*runs)[0].cycle == 1);
}

TEST_CASE("finish_execution writes outputs, events and metrics together", "[store]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  auto run_id = store->create_run(sample_run(), {"train"});
  REQUIRE(run_id);
  auto ex = store->begin_execution(*run_id, "train", 1, "trainer/x", "1.0.0", "d", "k", "");
  REQUIRE(ex);

  ExecutionResult res;
  res.state = State::kSucceeded;
  res.inputs.push_back({"data", artifact("dataset", "dataset", "data")});
  res.outputs.push_back({"model", artifact("model", "model", "model")});
  res.metrics.push_back({"loss", 0.5, 10, 0});
  res.metrics.push_back({"loss", 0.25, 20, 0});

  SECTION("all visible after commit") {
    REQUIRE(store->finish_execution(*ex, res));
    auto outs = store->execution_events(*ex, true);
    auto ins = store->execution_events(*ex, false);
    auto mets = store->execution_metrics(*ex);
    REQUIRE(outs->size() == 1);
    CHECK((*outs)[0].role == "model");
    CHECK((*outs)[0].artifact.digest == "sha256:" + llmops::base::sha256_hex("model"));
    CHECK((*outs)[0].artifact.kind == "model");
    CHECK((*outs)[0].artifact.created_at > 0);
    REQUIRE(ins->size() == 1);
    CHECK((*ins)[0].role == "data");
    REQUIRE(mets->size() == 2);
    CHECK((*mets)[1].value == 0.25);
    CHECK((*mets)[1].step == 20);
    CHECK((*mets)[1].time > 0);
    CHECK(store->list_artifacts()->size() == 2);
    auto found = store->find_artifacts(llmops::base::sha256_hex("model").substr(0, 8));
    REQUIRE(found->size() == 1);
    CHECK((*found)[0].name == "model");
    CHECK(store->find_artifacts("sha256:" + llmops::base::sha256_hex("dataset").substr(0, 5))
              ->size() == 1);
    CHECK(store->list_steps(*run_id)->at(0).state == State::kSucceeded);
  }
  SECTION("nothing visible when any part fails") {
    res.outputs.push_back({"broken", Artifact{}});  // no digest: rejected mid-transaction
    REQUIRE_FALSE(store->finish_execution(*ex, res));
    CHECK(store->execution_events(*ex, true)->empty());
    CHECK(store->execution_events(*ex, false)->empty());
    CHECK(store->execution_metrics(*ex)->empty());
    CHECK(store->list_artifacts()->empty());
    CHECK(store->list_executions(*run_id)->at(0).state == State::kRunning);
    CHECK(store->list_steps(*run_id)->at(0).state == State::kRunning);
  }
}

TEST_CASE("cache lookup finds the latest succeeded or cached execution", "[store]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  auto r1 = store->create_run(sample_run(), {"train"});
  REQUIRE(r1);
  CHECK_FALSE(store->find_cached("key")->has_value());

  auto failed = store->begin_execution(*r1, "train", 1, "p", "1", "d", "key", "");
  REQUIRE(store->finish_execution(*failed, {State::kFailed, "x", {}, {}, {}}));
  CHECK_FALSE(store->find_cached("key")->has_value());

  auto ok = store->begin_execution(*r1, "train", 2, "p", "1", "d", "key", "");
  ExecutionResult res;
  res.state = State::kSucceeded;
  res.outputs.push_back({"model", artifact("m", "model", "model")});
  REQUIRE(store->finish_execution(*ok, res));
  auto hit = store->find_cached("key");
  REQUIRE(hit->has_value());
  CHECK((*hit)->id == *ok);
  CHECK_FALSE(store->find_cached("other")->has_value());
  CHECK_FALSE(store->find_cached("")->has_value());

  // A later run reuses it; the cached execution becomes the newest hit and has its own events.
  auto r2 = store->create_run(sample_run(), {"train"});
  auto outs = store->execution_events(*ok, true);
  ExecutionResult reuse;
  reuse.outputs = *outs;
  auto cached = store->record_cached(*r2, "train", "p", "1", "d", "key", reuse);
  REQUIRE(cached);
  hit = store->find_cached("key");
  CHECK((*hit)->id == *cached);
  CHECK((*hit)->state == State::kCached);
  CHECK(store->execution_events(*cached, true)->size() == 1);
  auto steps = store->list_steps(*r2);
  CHECK(steps->at(0).state == State::kCached);
  CHECK(steps->at(0).ended_at > 0);
}

TEST_CASE("fail_interrupted fails running executions and resets their steps", "[store]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  auto run_id = store->create_run(sample_run(), {"a", "b", "c"});
  auto ea = store->begin_execution(*run_id, "a", 1, "p", "1", "d", "", "");
  REQUIRE(store->finish_execution(*ea, {State::kSucceeded, "", {}, {}, {}}));
  REQUIRE(store->begin_execution(*run_id, "b", 1, "p", "1", "d", "", ""));
  REQUIRE(store->begin_execution(*run_id, "c", 1, "p", "1", "d", "", ""));
  auto other = store->create_run(sample_run(), {"a"});
  REQUIRE(store->begin_execution(*other, "a", 1, "p", "1", "d", "", ""));

  auto n = store->fail_interrupted(*run_id);
  REQUIRE(n);
  CHECK(*n == 2);
  auto execs = store->list_executions(*run_id);
  CHECK((*execs)[0].state == State::kSucceeded);
  CHECK((*execs)[1].state == State::kFailed);
  CHECK((*execs)[1].error == "interrupted (engine stopped)");
  CHECK((*execs)[2].state == State::kFailed);
  auto steps = store->list_steps(*run_id);
  CHECK((*steps)[0].state == State::kSucceeded);
  CHECK((*steps)[1].state == State::kPending);
  CHECK((*steps)[2].state == State::kPending);
  // Other runs are untouched.
  CHECK(store->list_executions(*other)->at(0).state == State::kRunning);
  CHECK(*store->fail_interrupted(*run_id) == 0);
}
