// Several processes and threads writing to one store at once wait for each other instead of
// failing with "database is locked".
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdio>
#include <thread>

#include "base/hash.hpp"
#include "store/store.hpp"
#include "store_test_util.hpp"

using namespace llmops::store;
using llmops::store::testing::TempDir;

namespace {

constexpr int kWrites = 200;

// Runs in a forked child: no Catch2 here, the exit code is the verdict.
int writer(const std::filesystem::path& home, int who) {
  auto opened = Store::open(home);
  if (!opened) {
    std::fprintf(stderr, "child %d: open: %s\n", who, opened.status().message().c_str());
    return 1;
  }
  Store& store = **opened;
  NewRun r;
  r.pipeline = "p" + std::to_string(who);
  int64_t run_id = 0;
  for (int i = 0; i < kWrites; ++i) {
    llmops::Status st;
    if (i % 4 == 0) {
      auto id = store.create_run(r, {"s"});
      st = id.status();
      if (id) run_id = *id;
    } else if (i % 4 == 1) {
      st = store.set_run_state(run_id, State::kRunning);
    } else if (i % 4 == 2) {
      auto ex = store.begin_execution(run_id, "s", 1, "p", "1", "d", "k", "");
      st = ex.status();
      if (ex) {
        ExecutionResult res;
        res.state = State::kSucceeded;
        Artifact a;
        a.digest =
            "sha256:" + llmops::base::sha256_hex(std::to_string(who) + "/" + std::to_string(i));
        res.outputs.push_back({"out", a});
        res.metrics.push_back({"m", 1.0, i, 0});
        st = store.finish_execution(*ex, res);
      }
    } else {
      st = store.set_run_state(run_id, State::kSucceeded);
    }
    if (!st) {
      std::fprintf(stderr, "child %d write %d: %s\n", who, i, st.message().c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace

TEST_CASE("two processes write to one new store at once", "[store][concurrency]") {
  TempDir tmp("fork");
  const auto home = tmp.path / "home";  // not created yet: both children migrate it
  pid_t pids[2];
  for (int who = 0; who < 2; ++who) {
    pids[who] = fork();
    REQUIRE(pids[who] >= 0);
    if (pids[who] == 0) _exit(writer(home, who));
  }
  for (pid_t pid : pids) {
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }

  auto store = Store::open(home);
  REQUIRE(store);
  CHECK((*store)->list_runs(1000)->size() == 2 * kWrites / 4);
  CHECK((*store)->list_artifacts(1000)->size() == 2 * kWrites / 4);
  SQLite::Database db((home / "llmops.db").string());
  CHECK(db.execAndGet("PRAGMA integrity_check").getString() == "ok");
  CHECK(db.execAndGet("SELECT COUNT(*) FROM metrics").getInt() == 2 * kWrites / 4);
  CHECK(db.execAndGet("SELECT COUNT(*) FROM schema_version").getInt() ==
        schema_version_supported());
}

TEST_CASE("threads share one Store safely", "[store][concurrency]") {
  TempDir tmp("threads");
  auto store = std::move(Store::open(tmp.path)).value();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      NewRun r;
      r.pipeline = "t" + std::to_string(t);
      for (int i = 0; i < 25; ++i) {
        auto id = store->create_run(r, {"a"});
        if (!id || !store->set_run_state(*id, State::kRunning) || !store->get_run(*id)) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  CHECK(store->list_runs(1000)->size() == 100);
}
