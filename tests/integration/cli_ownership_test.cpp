// Integration: one engine owns a run at a time. A second engine on a live run is refused with a
// message naming the first; `llmops cancel` stops a run another process executes, or records the
// cancel of one whose engine died; a dead engine's run is taken over by `resume`.
#include <catch2/catch.hpp>

#include "cli_harness.hpp"

using namespace llmops::testing;

TEST_CASE("a second engine on a live run is refused and cancel stops the first",
          "[integration][ownership]") {
  TempHome t;
  const auto file = t.write("slow.yaml", slow_chain("slow"));
  const auto pid = spawn_cli(t, {"run", file.string()}, "first");
  REQUIRE(pid > 0);
  REQUIRE(wait_until([&] { return step_state(t, "b") == "running"; }, 30));

  auto second = run_cli(t, {"resume", "1"});
  INFO("second: " << second.out << second.err);
  CHECK(second.exit_code != 0);
  CHECK(second.err.find("is being executed by pid " + std::to_string(pid)) != std::string::npos);
  CHECK(second.err.find("llmops cancel 1") != std::string::npos);
  CHECK(second.out.find("started") == std::string::npos);  // refused before it says anything
  // The refused engine wrote nothing: still one attempt of b, still running.
  CHECK(sql_one(t, "SELECT COUNT(*) FROM executions WHERE step = 'b'") == "1");
  CHECK(step_state(t, "b") == "running");

  auto cancel = run_cli(t, {"cancel", "1", "--json", "--timeout", "30"});
  INFO("cancel: " << cancel.out << cancel.err);
  REQUIRE(cancel.exit_code == 0);
  CHECK(cancel.json()["state"] == "cancelled");
  bool timed_out = false;
  auto first = wait_cli_for(t, pid, "first", 30, &timed_out);
  CHECK_FALSE(timed_out);
  CHECK(first.exit_code != 0);
  CHECK(sql_one(t, "SELECT state FROM runs WHERE id = 1") == "cancelled");
  CHECK(step_state(t, "b") == "cancelled");
  CHECK(step_state(t, "c") != "succeeded");
  CHECK(sql_one(t, "SELECT COUNT(*) FROM executions WHERE state = 'running'") == "0");
  CHECK(sql_one(t, "SELECT COUNT(*) FROM run_leases") == "0");  // released on the way out

  // Cancelling a finished run changes nothing.
  auto again = run_cli(t, {"cancel", "1"});
  CHECK(again.exit_code == 0);
  CHECK(again.out.find("already finished") != std::string::npos);
}

TEST_CASE("cancel of a run whose engine died records it, and resume takes over a dead engine's run",
          "[integration][ownership]") {
  TempHome t;
  const auto file = t.write("slow.yaml", slow_chain("slow"));
  for (int round = 0; round < 2; ++round) {
    const auto pid = spawn_cli(t, {"run", file.string()}, "killed" + std::to_string(round));
    REQUIRE(pid > 0);
    const std::string run = std::to_string(round + 1);
    REQUIRE(wait_until(
        [&] {
          return sql_one(t, "SELECT state FROM run_steps WHERE run_id = " + run +
                                " AND step = 'b'") == "running";
        },
        30));
    kill(pid, SIGKILL);
    wait_cli(t, pid, "killed" + std::to_string(round));
    // The dead engine's lease is still in the store; it must not block anyone.
    CHECK(sql_one(t, "SELECT COUNT(*) FROM run_leases WHERE run_id = " + run) == "1");
  }

  auto cancel = run_cli(t, {"cancel", "1"});
  INFO("cancel: " << cancel.out << cancel.err);
  REQUIRE(cancel.exit_code == 0);
  CHECK(cancel.out.find("no engine was running it") != std::string::npos);
  CHECK(sql_one(t, "SELECT state FROM runs WHERE id = 1") == "cancelled");
  CHECK(step_state(t, "b") == "cancelled");
  CHECK(step_state(t, "c") == "cancelled");
  CHECK(step_state(t, "a") == "succeeded");
  CHECK(sql_one(t, "SELECT COUNT(*) FROM executions WHERE run_id = 1 AND state = 'running'") ==
        "0");

  // Run 2, left running by a dead engine, says so.
  auto listed = run_cli(t, {"runs", "--json"});
  REQUIRE(listed.exit_code == 0);
  bool seen = false;
  for (const auto& r : listed.json())
    if (r["id"] == 2) {
      seen = true;
      CHECK(r["state"] == "running");
      CHECK(r["engine"]["alive"] == false);
    }
  CHECK(seen);
  CHECK(run_cli(t, {"runs"}).out.find("no engine: llmops resume or cancel 2") != std::string::npos);
  CHECK(run_cli(t, {"show", "2"}).out.find("no engine") != std::string::npos);

  // Run 2: resume takes the dead engine's run over (a short sleep this time is not possible: the
  // recorded text is the run's, so cancel it from the resumed engine once it owns the run).
  const auto resumed = spawn_cli(t, {"resume", "2"}, "resumed");
  REQUIRE(wait_until(
      [&] {
        return sql_one(t, "SELECT pid FROM run_leases WHERE run_id = 2") == std::to_string(resumed);
      },
      30));
  auto cancel2 = run_cli(t, {"cancel", "2", "--timeout", "30"});
  CHECK(cancel2.exit_code == 0);
  auto r = wait_cli_for(t, resumed, "resumed", 30);
  CHECK(sql_one(t, "SELECT state FROM runs WHERE id = 2") == "cancelled");
  CHECK(sql_one(t,
                "SELECT COUNT(*) FROM executions WHERE run_id = 2 AND step = 'b' AND "
                "error LIKE 'interrupted%'") == "1");
}
