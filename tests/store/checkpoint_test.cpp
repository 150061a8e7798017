// The store's checkpoints: a background thread copies the log into the database, and the log
// stays bounded under a stream of commits.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "store/store.hpp"
#include "store_test_util.hpp"

namespace fs = std::filesystem;
using namespace llmops::store;
using llmops::store::testing::open_store;
using llmops::store::testing::TempDir;

namespace {

int64_t make_run(Store& st, const std::string& text) {
  NewRun r;
  r.pipeline = "demo";
  r.spec_text = text;
  auto id = st.create_run(r, {"a"});
  REQUIRE(id);
  return id.value();
}

}  // namespace

TEST_CASE("the log is checkpointed in the background and stays bounded", "[store]") {
  TempDir tmp;
  auto st = open_store(tmp.path);
  const fs::path db = tmp.path / "llmops.db", wal = tmp.path / "llmops.db-wal";
  const auto db_before = fs::file_size(db);

  // ~1,200 log frames (each run writes about eight pages): past the background threshold, below the
  // writer's own. Only a checkpoint grows the database file, and the writer has not run one.
  const std::string text(6000, 'x');
  for (int i = 0; i < 150; ++i) make_run(*st, text);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (fs::file_size(db) == db_before && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  CHECK(fs::file_size(db) > db_before);

  // A long stream of small commits: the log restarts instead of growing (4,000 frames of 4 KiB
  // plus the last transaction's).
  auto run = make_run(*st, "small");
  for (int i = 0; i < 12000; ++i)
    REQUIRE(st->set_step_state(run, "a", i % 2 ? State::kRunning : State::kPending));
  CHECK(fs::file_size(wal) < 4100u * (4096 + 24));
  auto steps = st->list_steps(run);
  REQUIRE(steps);
  CHECK(steps->front().state == State::kRunning);
  auto first = st->get_run(run - 150);
  REQUIRE(first);
  CHECK(first->spec_text == text);
}
