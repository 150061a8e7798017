// The subprocess executor contains misbehaving plugins: each failure stays in its own step.
#include <catch2/catch.hpp>

#include "cli_harness.hpp"

using namespace llmops::testing;

namespace {

// Processes running `llmops fork-server` for this test's LLMOPS_HOME (from /proc): the servers
// and, unless servers_only, the workers they forked (named llmops-step, same command line).
int fork_servers_of(const TempHome& t, bool servers_only = false) {
  const std::string home = "LLMOPS_HOME=" + t.home().string();
  int count = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string cmd = slurp(e.path() / "cmdline");
    if (cmd.find("fork-server") == std::string::npos) continue;
    if (servers_only && slurp(e.path() / "comm").rfind("llmops-step", 0) == 0) continue;
    const std::string env = slurp(e.path() / "environ");
    size_t at = 0;
    for (size_t nul; (nul = env.find('\0', at)) != std::string::npos; at = nul + 1)
      if (env.compare(at, nul - at, home) == 0) ++count;
  }
  return count;
}

}  // namespace

TEST_CASE("crashing plugins fail only their own step", "[integration][isolation]") {
  TempHome t;
  auto file = t.write("p.yaml", R"(apiVersion: llmops/v1
kind: Pipeline
name: crashes
steps:
  segv: {uses: testing/crash, with: {mode: segv}}
  abort: {uses: testing/crash, with: {mode: abort}}
  exit: {uses: testing/crash, with: {mode: exit}}
  oom: {uses: testing/crash, with: {mode: oom}, resources: {memory: 256Mi}}
  hang: {uses: testing/crash, with: {mode: hang}, timeout: 1s}
  flaky: {uses: testing/crash, with: {mode: abort}, retries: {max: 1, initial: 10ms}}
  fine: {uses: testing/write, with: {text: fine}, executor: subprocess}
  after: {uses: testing/concat, executor: subprocess, inputs: {x: "${{ steps.fine.outputs.out }}"}}
)");
  auto r = run_cli(t, {"run", file.string()});
  CHECK(r.exit_code == 1);
  auto show = run_cli(t, {"show", "1", "--json"});
  REQUIRE(show.exit_code == 0);
  auto j = show.json();
  std::map<std::string, nlohmann::json> steps;
  for (const auto& s : j["steps"]) steps[s["step"]] = s;
  auto error_of = [&](const std::string& name) {
    return steps[name]["executions"].back()["error"].get<std::string>();
  };
  CHECK(steps["segv"]["state"] == "failed");
  CHECK_THAT(error_of("segv"), Catch::Contains("signal 11"));
  CHECK_THAT(error_of("abort"), Catch::Contains("signal 6"));
  CHECK_THAT(error_of("exit"), Catch::Contains("code 3"));
  CHECK(steps["oom"]["state"] == "failed");
  CHECK_THAT(error_of("hang"), Catch::Contains("timed out after 1s"));
  // Retries apply to crashes too.
  CHECK(steps["flaky"]["executions"].size() == 2);
  // The engine survived and the healthy branch ran to the end in workers.
  CHECK(steps["fine"]["state"] == "succeeded");
  CHECK(steps["after"]["state"] == "succeeded");
  CHECK(read_artifact(steps["after"]["executions"].back()["outputs"]["out"]["uri"]) == "fine");
  // The hung worker, abandoned after its timeout, does not outlive the run.
  CHECK(wait_until([&] { return fork_servers_of(t) == 0; }, 10));
}

TEST_CASE("a plugin built for another ABI is refused, naming both ABIs", "[integration][abi]") {
  TempHome t;
  const auto dir = (fs::path(LLMOPS_BINARY_DIR) / "test-plugins").string();
  const std::string cache = "XDG_CACHE_HOME=" + (t.path() / "cache").string();
  auto list = run_cli_env(t, {"plugins", "list", "--json"}, {"LLMOPS_PLUGIN_PATH=" + dir, cache});
  REQUIRE(list.exit_code == 0);
  // A library that crashes while loading is listed as broken; the listing itself survives.
  bool crash_seen = false;
  for (const auto& p : list.json())
    if (p["path"].get<std::string>().find("crash-on-load") != std::string::npos) {
      crash_seen = true;
      CHECK_THAT(p["broken"].get<std::string>(), Catch::Contains("signal 11"));
    }
  CHECK(crash_seen);
  // The second listing comes from the descriptor cache and says the same.
  auto again = run_cli_env(t, {"plugins", "list", "--json"}, {"LLMOPS_PLUGIN_PATH=" + dir, cache});
  CHECK(again.json() == list.json());
  bool seen = false;
  for (const auto& p : list.json()) {
    if (p["id"] != "testing/bad-abi") continue;
    seen = true;
    CHECK_THAT(p["broken"].get<std::string>(), Catch::Contains("ABI 99.0"));
    CHECK_THAT(p["broken"].get<std::string>(), Catch::Contains("ABI 1."));
  }
  CHECK(seen);
  auto file = t.write("p.yaml",
                      "apiVersion: llmops/v1\nkind: Pipeline\nname: abi\nsteps:\n"
                      "  a: {uses: testing/bad-abi}\n");
  auto r = run_cli_env(t, {"validate", file.string()}, {"LLMOPS_PLUGIN_PATH=" + dir, cache});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("testing/bad-abi"));
}

TEST_CASE("builtin/shell passes values as argv, never through a shell", "[integration][shell]") {
  TempHome t;
  auto file = t.write("p.yaml", R"Y(apiVersion: llmops/v1
kind: Pipeline
name: shell
params:
  word: {type: string, default: "a; touch PWNED $(touch PWNED2)"}
steps:
  make:
    uses: builtin/shell
    with:
      command: [sh, -c, 'printf "%s" "$1" > "$LLMOPS_OUTPUT_DATA/w.txt"; echo made it', sh, "${{ params.word }}"]
      outputs: {data: dataset}
  use:
    uses: builtin/shell
    inputs: {src: "${{ steps.make.outputs.data }}"}
    with: {command: [cat, "${{ steps.make.outputs.data }}/w.txt"]}
  bad:
    uses: builtin/shell
    with: {command: ["false"]}
)Y");
  auto r = run_cli(t, {"run", file.string()});
  CHECK(r.exit_code == 1);  // `bad` fails with its exit code
  auto j = run_cli(t, {"show", "1", "--json"}).json();
  std::map<std::string, nlohmann::json> steps;
  for (const auto& s : j["steps"]) steps[s["step"]] = s;
  REQUIRE(steps["make"]["state"] == "succeeded");
  CHECK(read_artifact(steps["make"]["executions"].back()["outputs"]["data"]["uri"]) ==
        "a; touch PWNED $(touch PWNED2)");
  CHECK(steps["use"]["state"] == "succeeded");
  CHECK(steps["bad"]["state"] == "failed");
  CHECK_THAT(steps["bad"]["executions"].back()["error"].get<std::string>(),
             Catch::Contains("exited with code 1"));
  auto logs = run_cli(t, {"logs", "1", "make"});
  CHECK_THAT(logs.out, Catch::Contains("made it"));
  auto logs2 = run_cli(t, {"logs", "1", "use"});
  CHECK_THAT(logs2.out, Catch::Contains("a; touch PWNED $(touch PWNED2)"));
  CHECK_FALSE(fs::exists(t.home() / "runs" / "1" / "work" / "make" / "1" / "scratch" / "PWNED"));
  CHECK_FALSE(fs::exists("PWNED"));
}

TEST_CASE("workers are forked by a fork server that ends with the run",
          "[integration][isolation]") {
  TempHome t;
  auto file = t.write("p.yaml", R"(apiVersion: llmops/v1
kind: Pipeline
name: forked
defaults: {executor: subprocess}
steps:
  segv: {uses: testing/crash, with: {mode: segv}}
  a: {uses: testing/write, with: {text: a}}
  c: {uses: testing/concat, inputs: {x: "${{ steps.a.outputs.out }}"}}
  slow: {uses: testing/sleep, needs: [c], with: {seconds: 30}}
)");
  const pid_t pid = spawn_cli(t, {"run", file.string()}, "run");
  REQUIRE(pid > 0);
  // While the run is on, its workers come from one fork server.
  CHECK(wait_until([&] { return step_of(show_json(t, 1), "slow")["state"] == "running"; }, 20));
  // The step is recorded running before its worker is forked ("the store first"): wait for it.
  CHECK(wait_until([&] { return fork_servers_of(t) == 2; }, 10));  // the server and the worker
  CHECK(fork_servers_of(t, /*servers_only=*/true) == 1);
  kill(pid, SIGINT);  // cancels the sleeping step
  auto r = wait_cli_for(t, pid, "run", 30);
  CHECK(r.exit_code != 0);
  auto show = show_json(t, 1);
  CHECK(step_of(show, "segv")["state"] == "failed");
  // A crash in one worker leaves the server able to fork the next ones.
  CHECK(step_of(show, "c")["state"] == "succeeded");
  CHECK(read_artifact(output_of(show, "c", "out")["uri"]) == "a");
  // No server outlives the run that started it.
  CHECK(wait_until([&] { return fork_servers_of(t) == 0; }, 10));
}
