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
