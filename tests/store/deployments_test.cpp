// Deployments: current state per name, plus a history that cannot be rewritten.
#include <catch2/catch.hpp>

#include <SQLiteCpp/SQLiteCpp.h>

#include "store/store.hpp"
#include "store_test_util.hpp"

using namespace llmops::store;
using llmops::store::testing::TempDir;

TEST_CASE("deployments keep the latest state and an append-only history", "[store][deployments]") {
  TempDir tmp("deploy");
  auto s = Store::open(tmp.path);
  REQUIRE(s);
  auto& store = *s.value();
  DeploymentRecord d{
      "assistant",           "start",      "",          "running", "http://127.0.0.1:8080/v1",
      R"({"version":"v1"})", std::nullopt, std::nullopt};
  REQUIRE(store.record_deployment(d));
  d.action = "load";
  d.info_json = R"({"version":"v2"})";
  REQUIRE(store.record_deployment(d));
  auto list = store.list_deployments();
  REQUIRE(list);
  REQUIRE(list->size() == 1);
  CHECK(list->front().info_json == R"({"version":"v2"})");
  CHECK(list->front().endpoint == "http://127.0.0.1:8080/v1");
  auto hist = store.deployment_history("assistant");
  REQUIRE(hist);
  REQUIRE(hist->size() == 2);
  CHECK(hist->at(0).action == "start");
  CHECK(hist->at(1).action == "load");
  // An unknown model digest is refused (foreign key), and nothing of that call is kept.
  d.artifact_digest = "sha256:0000";
  CHECK_FALSE(store.record_deployment(d));
  CHECK(store.deployment_history("assistant")->size() == 2);
  CHECK_FALSE(store.record_deployment(DeploymentRecord{}));
  // The history table refuses edits even through plain SQL.
  s.value().reset();
  SQLite::Database db((tmp.path / "llmops.db").string(), SQLite::OPEN_READWRITE);
  CHECK_THROWS(db.exec("UPDATE deployment_history SET action = 'x'"));
  CHECK_THROWS(db.exec("DELETE FROM deployment_history"));
}
