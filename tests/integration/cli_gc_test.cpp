// Integration: `llmops gc` (retention of runs and blobs) and `llmops --help` (every command,
// including those plugins ship as llmops-NAME executables).
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include "cli_harness.hpp"

using namespace llmops::testing;

namespace {

std::string pipeline(const std::string& name) {
  return R"(apiVersion: llmops/v1
kind: Pipeline
name: )" +
         name + R"(
params:
  text: {type: string, default: x}
steps:
  make: {uses: testing/write, with: {text: "${{ params.text }}", filename: made.txt}}
  use:
    uses: testing/concat
    inputs: {x: "${{ steps.make.outputs.out }}"}
)";
}

// The blob of `step`'s output `out` in a run, from `show --json`.
fs::path blob_of(const TempHome& t, int64_t run, const std::string& step) {
  auto show = show_json(t, run);
  REQUIRE(show.is_object());
  auto out = output_of(show, step);
  REQUIRE(out.is_object());
  return out["uri"].get<std::string>();
}

}  // namespace

TEST_CASE("gc keeps the newest runs per pipeline and the deployed model, and frees the rest",
          "[integration][gc]") {
  TempHome t;
  const auto alpha = t.write("alpha.yaml", pipeline("alpha"));
  const auto beta = t.write("beta.yaml", pipeline("beta"));
  auto run = [&](const fs::path& file, const std::string& text) {
    auto r = run_cli(t, {"run", file.string(), "-p", "text=" + text});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  };
  run(alpha, "deployed model");  // run 1: its model is served
  run(alpha, "shared data");     // run 2: goes, but beta's run 5 made the same blob (cached)
  run(beta, "only in run 3");    // run 3: goes, with its blobs
  run(alpha, "alpha newest");    // run 4
  run(beta, "shared data");      // run 5
  const fs::path deployed = blob_of(t, 1, "make");
  const fs::path shared = blob_of(t, 2, "make");
  const fs::path only3 = blob_of(t, 3, "make");
  const fs::path only3_used = blob_of(t, 3, "use");
  const std::string deployed_digest = output_of(show_json(t, 1), "make")["digest"];
  sql(db_path(t),
      "INSERT INTO deployments(name, artifact_digest, state, updated_at) VALUES ('assistant', '" +
          deployed_digest + "', 'running', 0)",
      true);
  const fs::path run3_dir = t.home() / "runs" / "3";
  fs::create_directories(run3_dir);  // as a step's log or work folder would
  std::ofstream(run3_dir / "make.log") << "a log\n";

  SECTION("--dry-run reports and removes nothing") {
    auto r = run_cli(t, {"gc", "--keep-runs", "1", "--dry-run", "--json"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    auto j = r.json();
    CHECK(j["dry_run"] == true);
    CHECK(j["runs_removed"] == 2);
    CHECK(j["removed_runs"][0]["id"] == 3);
    CHECK(j["removed_runs"][0]["pipeline"] == "beta");
    CHECK(j["removed_runs"][1]["id"] == 2);
    CHECK(j["kept_by"]["newest"] == 2);
    CHECK(j["kept_by"]["deployed"] == 1);
    CHECK(j["blobs"]["removed"] == 2);
    CHECK(j["run_dirs"]["removed"].get<int>() >= 1);
    CHECK(j["bytes_freed"].get<int64_t>() > 0);
    CHECK(show_json(t, 2).is_object());
    CHECK(show_json(t, 3).is_object());
    CHECK(fs::exists(only3));
    CHECK(fs::exists(run3_dir));

    auto text = run_cli(t, {"gc", "--keep-runs", "1", "--dry-run"});
    CHECK(text.exit_code == 0);
    CHECK_THAT(text.out, Catch::Contains("Would remove 2 runs"));
    CHECK_THAT(text.out, Catch::Contains("Nothing was removed (--dry-run)"));
    CHECK(sql(db_path(t), "SELECT COUNT(*) FROM runs")[0][0] == "5");
  }

  SECTION("gc removes old runs, their folders and the blobs only they used") {
    auto r = run_cli(t, {"gc", "--keep-runs", "1"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("Removed 2 runs"));
    CHECK_THAT(r.out, Catch::Contains("Freed "));
    CHECK_THAT(r.out, Catch::Contains("beta"));

    for (int64_t gone : {2, 3}) {
      auto show = run_cli(t, {"show", std::to_string(gone)});
      CHECK(show.exit_code == 2);
      CHECK_THAT(show.err, Catch::Contains("no run " + std::to_string(gone)));
    }
    CHECK_FALSE(fs::exists(only3));
    CHECK_FALSE(fs::exists(only3_used));
    CHECK_FALSE(fs::exists(run3_dir));
    CHECK(fs::exists(deployed));  // named by a deployment
    CHECK(fs::exists(shared));    // run 5 still uses it
    CHECK(fs::exists(blob_of(t, 4, "use")));
    auto runs = run_cli(t, {"runs", "--json"}).json();
    REQUIRE(runs.size() == 3);
    CHECK(runs[0]["id"] == 5);
    CHECK(runs[1]["id"] == 4);
    CHECK(runs[2]["id"] == 1);
    CHECK(sql(db_path(t), "SELECT COUNT(*) FROM pragma_foreign_key_check")[0][0] == "0");
    // Kept runs still show their whole lineage.
    auto lineage = run_cli(t, {"lineage", "5:use", "--format", "json"});
    CHECK(lineage.exit_code == 0);

    auto again = run_cli(t, {"gc", "--keep-runs", "1", "--json"});
    REQUIRE(again.exit_code == 0);
    CHECK(again.json()["runs_removed"] == 0);
    CHECK(again.json()["bytes_freed"] == 0);
  }
}

TEST_CASE("gc refuses a negative --keep-runs", "[integration][gc]") {
  TempHome t;
  auto r = run_cli(t, {"gc", "--keep-runs", "-1"});
  CHECK(r.exit_code == 2);
}

TEST_CASE("llmops --help lists every command, the ones plugins ship too", "[integration][help]") {
  TempHome t;
  // A third-party command on the plugin path, and a plugin library that is not a command.
  const fs::path dir = t.path() / "extra";
  const fs::path tool = t.write("extra/llmops-hello", "#!/bin/sh\necho hello\n");
  ::chmod(tool.c_str(), 0755);
  const fs::path lib = t.write("extra/llmops-plugin-hello.so", "not really a library");
  ::chmod(lib.c_str(), 0755);

  auto r = run_cli_env(t, {"--help"}, {"LLMOPS_PLUGIN_PATH=" + dir.string()});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  for (const char* cmd : {"validate", "run", "resume", "runs", "show", "logs", "graph", "lineage",
                          "artifacts", "plugins", "schedule", "scheduler", "gc"})
    CHECK_THAT(r.out, Catch::Contains(std::string("\n  ") + cmd + " "));
  CHECK_THAT(r.out, Catch::Contains("Plugin commands"));
  for (const char* cmd : {"serve", "deployments", "model", "tokenizer", "hello"})
    CHECK_THAT(r.out, Catch::Contains(std::string("\n  ") + cmd + " "));
  CHECK_THAT(r.out, Catch::Contains("OpenAI-compatible"));
  CHECK_THAT(r.out, Catch::Contains(tool.string()));
  CHECK_THAT(r.out, !Catch::Contains("plugin-hello"));
  // A subcommand's own help stays short.
  auto sub = run_cli(t, {"gc", "--help"});
  CHECK(sub.exit_code == 0);
  CHECK_THAT(sub.out, Catch::Contains("--keep-runs"));
  CHECK_THAT(sub.out, !Catch::Contains("Plugin commands"));
}
