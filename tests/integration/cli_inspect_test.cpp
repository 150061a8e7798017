// Integration: the commands that read files or plugins and write nothing: `validate`, `run` of a
// bad file, `graph`, `plugins list|describe`, `--version`, and argument errors.
#include <catch2/catch.hpp>

#include <regex>

#include "cli_harness.hpp"

using namespace llmops::testing;
using nlohmann::json;

namespace {

// Three problems: an unknown step key, an unknown plugin and a need that names no step.
constexpr char kBad[] = R"(apiVersion: llmops/v1
kind: Pipeline
name: bad
steps:
  a:
    uses: testing/write
    with: {text: hi}
    retriez: 3
  b:
    uses: testing/nosuchplugin
  c:
    uses: testing/noop
    needs: [zzz]
)";

constexpr char kGood[] = R"(apiVersion: llmops/v1
kind: Pipeline
name: small
steps:
  a:
    uses: testing/write
    with: {text: hi}
  b:
    uses: testing/concat
    inputs: {x: "${{ steps.a.outputs.out }}"}
)";

bool home_has_no_runs(const TempHome& t) {
  if (!fs::exists(t.home())) return true;
  if (!fs::exists(db_path(t))) return true;
  return sql(db_path(t), "SELECT COUNT(*) FROM runs")[0][0] == "0";
}

}  // namespace

TEST_CASE("validate reports every problem as FILE:LINE:COL and writes nothing",
          "[integration][validate]") {
  TempHome t;
  const auto file = t.write("bad.yaml", kBad);
  auto r = run_cli(t, {"validate", file.string()});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 2);
  const std::regex located(
      std::regex_replace(file.string(), std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
      R"(:\d+:\d+: error: )");
  auto begin = std::sregex_iterator(r.err.begin(), r.err.end(), located);
  CHECK(std::distance(begin, std::sregex_iterator()) >= 3);
  CHECK(r.err.find("retriez") != std::string::npos);
  CHECK(r.err.find("nosuchplugin") != std::string::npos);
  CHECK(r.err.find("zzz") != std::string::npos);
  // The unknown key sits on line 8, column 5.
  CHECK(r.err.find(file.string() + ":8:5:") != std::string::npos);
  CHECK_FALSE(fs::exists(t.home()));

  auto j = run_cli(t, {"validate", file.string(), "--json"});
  CHECK(j.exit_code == 2);
  auto doc = j.json();
  CHECK(doc["valid"] == false);
  CHECK(doc["file"] == file.string());
  REQUIRE(doc["diagnostics"].size() >= 3);
  for (const auto& d : doc["diagnostics"]) {
    CHECK(d["line"].get<int>() >= 1);
    CHECK(d["column"].get<int>() >= 1);
    CHECK(d["file"] == file.string());
    CHECK((d["severity"] == "error" || d["severity"] == "warning"));
    CHECK_FALSE(d["message"].get<std::string>().empty());
  }
  CHECK_FALSE(fs::exists(t.home()));

  // `run` of the same file: exit 2, the same messages, no run recorded.
  auto run = run_cli(t, {"run", file.string()});
  CHECK(run.exit_code == 2);
  CHECK(run.err.find(file.string() + ":8:5:") != std::string::npos);
  CHECK(home_has_no_runs(t));

  // A missing file is invalid input too.
  auto missing = run_cli(t, {"validate", (t.path() / "nope.yaml").string()});
  CHECK(missing.exit_code == 2);
  CHECK(home_has_no_runs(t));
}

TEST_CASE("validate accepts a good file", "[integration][validate]") {
  TempHome t;
  const auto file = t.write("good.yaml", kGood);
  auto r = run_cli(t, {"validate", file.string()});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("ok (2 steps)") != std::string::npos);
  auto j = run_cli(t, {"validate", file.string(), "--json"});
  CHECK(j.exit_code == 0);
  auto doc = j.json();
  CHECK(doc["valid"] == true);
  CHECK(doc["steps"] == 2);
  CHECK(doc["diagnostics"].empty());
  CHECK_FALSE(fs::exists(t.home()));

  // A dry run prints the plan and records nothing.
  auto dry = run_cli(t, {"run", file.string(), "--dry-run", "--json"});
  CHECK(dry.exit_code == 0);
  auto plan = dry.json();
  CHECK(plan["pipeline"] == "small");
  REQUIRE(plan["plan"].size() == 2);
  CHECK(plan["plan"][0]["step"] == "a");
  CHECK(plan["plan"][1]["step"] == "b");
  CHECK(plan["plan"][1]["plugin"] == "testing/concat@1.0.0");
  CHECK(home_has_no_runs(t));
}

TEST_CASE("argument errors exit 2", "[integration][validate]") {
  TempHome t;
  CHECK(run_cli(t, {}).exit_code == 2);
  CHECK(run_cli(t, {"run"}).exit_code == 2);
  CHECK(run_cli(t, {"graph", "x.yaml", "--format", "svg"}).exit_code == 2);
  const auto file = t.write("good.yaml", kGood);
  auto bad_p = run_cli(t, {"run", file.string(), "-p", "novalue"});
  CHECK(bad_p.exit_code == 2);
  CHECK(bad_p.err.find("key=value") != std::string::npos);
  CHECK(home_has_no_runs(t));
  auto v = run_cli(t, {"--version"});
  CHECK(v.exit_code == 0);
  CHECK(v.out.rfind("llmops ", 0) == 0);
}

TEST_CASE("graph prints dot and mermaid", "[integration][graph]") {
  TempHome t;
  const auto file = t.write("good.yaml", kGood);
  auto m = run_cli(t, {"graph", file.string(), "--format", "mermaid"});
  CHECK(m.exit_code == 0);
  CHECK(m.out.rfind("flowchart LR\n", 0) == 0);
  CHECK(m.out.find("a --> b") != std::string::npos);
  CHECK(m.out.find("testing/concat") != std::string::npos);
  auto d = run_cli(t, {"graph", file.string()});
  CHECK(d.exit_code == 0);
  CHECK(d.out.rfind("digraph \"small\" {", 0) == 0);
  CHECK(d.out.find("\"a\" -> \"b\";") != std::string::npos);
  CHECK_FALSE(fs::exists(t.home()));
}

TEST_CASE("plugins list and describe show the test plugins", "[integration][plugins]") {
  TempHome t;
  auto r = run_cli(t, {"plugins", "list", "--json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::set<std::string> ids;
  for (const auto& p : r.json()) {
    ids.insert(p["id"].get<std::string>());
    if (p["kind"] == "testing") {
      CHECK(p["broken"] == "");
      CHECK(p["version"] == "1.0.0");
      CHECK(p["id"] == "testing/" + p["name"].get<std::string>());
      CHECK(fs::exists(p["path"].get<std::string>()));
    }
  }
  for (const char* id :
       {"testing/noop", "testing/sleep", "testing/fail", "testing/write", "testing/concat"})
    CHECK(ids.count(id) == 1);

  auto d = run_cli(t, {"plugins", "describe", "testing/write", "--json"});
  REQUIRE(d.exit_code == 0);
  auto dj = d.json();
  CHECK(dj["id"] == "testing/write");
  CHECK(dj["params"]["required"] == json::array({"text"}));
  REQUIRE(dj["outputs"].size() == 1);
  CHECK(dj["outputs"][0]["name"] == "out");

  auto unknown = run_cli(t, {"plugins", "describe", "testing/nosuch"});
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("testing/noop") != std::string::npos);  // lists what is installed
}

TEST_CASE("validate refuses /dev/zero, an oversized file and an alias bomb at once",
          "[integration][validate][limits]") {
  TempHome t;
  // /dev/zero was read until memory ran out.
  bool timed_out = false;
  auto zero =
      wait_cli_for(t, spawn_cli(t, {"validate", "/dev/zero"}, "zero"), "zero", 60, &timed_out);
  CHECK_FALSE(timed_out);
  CHECK(zero.exit_code == 2);
  CHECK(zero.err.find("/dev/zero: error: read 1 MiB (1048576 bytes) from the device without "
                      "reaching its end") != std::string::npos);

  // A billion laughs in a parameter default (under 600 bytes) drove memory past 15 GB.
  std::string bomb =
      "apiVersion: llmops/v1\nkind: Pipeline\nname: bomb\nparams:\n  lol:\n"
      "    default:\n      l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i < 9; ++i) {
    bomb += "      l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int k = 0; k < 9; ++k) bomb += (k ? ", *l" : "*l") + std::to_string(i - 1);
    bomb += "]\n";
  }
  bomb += "steps:\n  a: {uses: testing/noop}\n";
  const auto bomb_file = t.write("bomb.yaml", bomb);
  timed_out = false;
  auto b = wait_cli_for(t, spawn_cli(t, {"validate", bomb_file.string()}, "bomb"), "bomb", 60,
                        &timed_out);
  INFO(b.err);
  CHECK_FALSE(timed_out);
  CHECK(b.exit_code == 2);
  CHECK(b.err.find(bomb_file.string() + ":12:26: error: alias '*l4' repeats 66430 nodes, which "
                                        "takes the file past the limit of 262144 YAML nodes") !=
        std::string::npos);
  CHECK(home_has_no_runs(t));

  // Over 1 MiB: refused unread, unless LLMOPS_MAX_PIPELINE_BYTES allows it.
  const auto big =
      t.write("big.yaml", std::string(kGood) + "# " + std::string(1 << 20, 'x') + "\n");
  auto r = run_cli(t, {"validate", big.string()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(big.string() + ": error: the pipeline file is " +
                   std::to_string(fs::file_size(big)) +
                   " bytes, more than the limit of 1 MiB (1048576 bytes): pipeline files are "
                   "small YAML documents; check that this is the right file, or raise the limit "
                   "with LLMOPS_MAX_PIPELINE_BYTES (e.g. 4Mi)") != std::string::npos);
  auto allowed = run_cli_env(t, {"validate", big.string()}, {"LLMOPS_MAX_PIPELINE_BYTES=2Mi"});
  INFO(allowed.err);
  CHECK(allowed.exit_code == 0);
}

TEST_CASE("show pages through a run's steps, with totals in --json", "[integration][show]") {
  TempHome t;
  const auto file = t.write("steps.yaml", R"(apiVersion: llmops/v1
kind: Pipeline
name: paged
steps:
  w1: {uses: testing/write, with: {text: one}}
  w2: {uses: testing/write, with: {text: two}}
  w3: {uses: testing/write, with: {text: three}}
  flaky:
    uses: testing/fail
    with: {times: 1}
    retries: {max: 1, initial: 1ms, jitter: false}
  w4: {uses: testing/write, with: {text: four}}
  w5: {uses: testing/write, with: {text: five}}
  gather:
    uses: testing/concat
    inputs: {a: "${{ steps.w1.outputs.out }}", b: "${{ steps.w5.outputs.out }}"}
)");
  auto run = run_cli(t, {"run", file.string()});
  INFO(run.out << run.err);
  REQUIRE(run.exit_code == 0);

  auto full = show_json(t, 1);
  REQUIRE(full.is_object());
  CHECK(full["steps_total"] == 7);
  CHECK(full["steps_offset"] == 0);
  CHECK(full["steps_limit"].is_null());
  REQUIRE(full["steps"].size() == 7);
  CHECK(executions_in(full, "flaky", "failed") == 1);
  CHECK(executions_in(full, "flaky", "succeeded") == 1);
  CHECK(output_of(full, "gather").is_object());
  CHECK(step_of(full, "gather")["executions"][0]["inputs"].size() == 2);
  CHECK(step_of(full, "w2")["executions"][0]["metrics"]["bytes"][0]["value"] == 3);

  // Pages of 3 put together are the whole, executions, artifacts and metrics included.
  json pages = json::array();
  for (int offset = 0; offset < 7; offset += 3) {
    auto r = run_cli(
        t, {"show", "1", "--json", "--steps-offset", std::to_string(offset), "--steps-limit", "3"});
    REQUIRE(r.exit_code == 0);
    auto page = r.json();
    CHECK(page["steps_total"] == 7);
    CHECK(page["steps_offset"] == offset);
    CHECK(page["steps_limit"] == 3);
    CHECK(page["steps"].size() == (offset == 6 ? 1u : 3u));
    CHECK(page["state"] == full["state"]);
    for (const auto& s : page["steps"]) pages.push_back(s);
  }
  CHECK(pages == full["steps"]);

  auto past = run_cli(t, {"show", "1", "--json", "--steps-offset", "100"});
  REQUIRE(past.exit_code == 0);
  CHECK(past.json()["steps"].empty());
  CHECK(past.json()["steps_total"] == 7);

  auto text = run_cli(t, {"show", "1", "--steps-offset", "2", "--steps-limit", "2"});
  REQUIRE(text.exit_code == 0);
  CHECK(text.out.find("steps    3-4 of 7 (--steps-offset, --steps-limit)") != std::string::npos);
  CHECK(text.out.find("  w3 ") != std::string::npos);
  CHECK(text.out.find("  flaky ") != std::string::npos);
  CHECK(text.out.find("2 attempts") != std::string::npos);
  CHECK(text.out.find("  w2 ") == std::string::npos);
  CHECK(text.out.find("  w4 ") == std::string::npos);
  auto all = run_cli(t, {"show", "1"});
  CHECK(all.out.find("steps    ") == std::string::npos);  // nothing left out, no page line
  CHECK(all.out.find("metric bytes") != std::string::npos);

  CHECK(run_cli(t, {"show", "1", "--steps-limit", "-1"}).exit_code == 2);
  CHECK(run_cli(t, {"show", "9"}).exit_code != 0);
  auto no_step = run_cli(t, {"logs", "1", "nosuch"});
  CHECK(no_step.exit_code == 2);
  CHECK(no_step.err.find("run 1 has no step 'nosuch'") != std::string::npos);
  auto no_run = run_cli(t, {"logs", "9", "w1"});
  CHECK(no_run.exit_code == 2);
  CHECK(no_run.err.find("no run 9") != std::string::npos);
}
