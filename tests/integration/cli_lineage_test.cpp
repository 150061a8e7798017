// Integration: `llmops lineage` walks the recorded provenance of a real run, up and down.
#include <catch2/catch.hpp>

#include "cli_harness.hpp"

using namespace llmops::testing;
using nlohmann::json;

namespace {

constexpr char kChain[] = R"(apiVersion: llmops/v1
kind: Pipeline
name: chain
steps:
  a:
    uses: testing/write
    with: {text: apple}
  b:
    uses: testing/write
    with: {text: banana}
  c:
    uses: testing/concat
    with: {separator: ","}
    inputs:
      x: "${{ steps.a.outputs.out }}"
      y: "${{ steps.b.outputs.out }}"
  d:
    uses: testing/concat
    with: {separator: ";"}
    inputs:
      first: "${{ steps.c.outputs.out }}"
      second: "${{ steps.a.outputs.out }}"
  lone:
    uses: testing/write
    with: {text: unrelated}
)";

std::set<std::string> node_ids(const json& g, const std::string& type) {
  std::set<std::string> out;
  for (const auto& n : g["nodes"])
    if (n["type"] == type) out.insert(n["id"].get<std::string>());
  return out;
}

std::string hex(const std::string& digest) {
  return digest.substr(digest.find(':') + 1);
}

}  // namespace

TEST_CASE("lineage walks upstream and downstream", "[integration][lineage]") {
  TempHome t;
  const auto file = t.write("chain.yaml", kChain);
  auto run = run_cli(t, {"run", file.string()});
  INFO(run.out << run.err);
  REQUIRE(run.exit_code == 0);
  auto show = show_json(t, 1);
  const std::string a = output_of(show, "a")["digest"];
  const std::string b = output_of(show, "b")["digest"];
  const std::string c = output_of(show, "c")["digest"];
  const std::string d = output_of(show, "d")["digest"];
  const std::string lone = output_of(show, "lone")["digest"];
  CHECK(read_artifact(output_of(show, "d")["uri"].get<std::string>()) == "apple,banana;apple");

  SECTION("upstream from RUN:STEP, as JSON") {
    auto r = run_cli(t, {"lineage", "1:d", "--format", "json"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    auto g = r.json();
    CHECK(g["ref"] == "1:d");
    CHECK(g["direction"] == "upstream");
    auto arts = node_ids(g, "artifact");
    CHECK(arts.count(d) == 1);
    CHECK(arts.count(c) == 1);
    CHECK(arts.count(a) == 1);
    CHECK(arts.count(b) == 1);
    CHECK(arts.count(lone) == 0);
    CHECK(node_ids(g, "execution").size() == 4);  // a, b, c, d
    // a's artifact feeds d's execution directly, as input `second`.
    const std::string d_exec =
        std::to_string(step_of(show, "d")["executions"][0]["id"].get<int64_t>());
    bool edge = false;
    for (const auto& e : g["edges"])
      edge |= e["from"] == a && e["to"] == d_exec && e["role"] == "second";
    CHECK(edge);
  }
  SECTION("--depth bounds the walk") {
    auto r = run_cli(t, {"lineage", "1:d", "--depth", "1", "--format", "json"});
    REQUIRE(r.exit_code == 0);
    auto g = r.json();
    CHECK(node_ids(g, "artifact").count(b) == 0);  // b is two hops up
    CHECK(node_ids(g, "artifact").count(c) == 1);
  }
  SECTION("downstream from a digest prefix") {
    auto r = run_cli(t, {"lineage", hex(a).substr(0, 12), "--downstream", "--format", "json"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    auto g = r.json();
    CHECK(g["direction"] == "downstream");
    auto arts = node_ids(g, "artifact");
    CHECK(arts.count(a) == 1);
    CHECK(arts.count(c) == 1);
    CHECK(arts.count(d) == 1);
    CHECK(arts.count(b) == 0);
    CHECK(arts.count(lone) == 0);
  }
  SECTION("text and dot") {
    auto text = run_cli(t, {"lineage", "1:c"});
    REQUIRE(text.exit_code == 0);
    CHECK(text.out.find(hex(c).substr(0, 12)) != std::string::npos);
    CHECK(text.out.find(hex(a).substr(0, 12)) != std::string::npos);
    auto dot = run_cli(t, {"lineage", "1:d", "--format", "dot"});
    REQUIRE(dot.exit_code == 0);
    CHECK(dot.out.rfind("digraph", 0) == 0);
    CHECK(dot.out.find("\"" + a + "\"") != std::string::npos);
  }
  SECTION("unknown references fail with a message") {
    auto none = run_cli(t, {"lineage", "ffffffffffff"});
    CHECK(none.exit_code != 0);
    CHECK(none.err.find("no artifact matches") != std::string::npos);
    auto no_step = run_cli(t, {"lineage", "1:nosuch"});
    CHECK(no_step.exit_code != 0);
    CHECK(no_step.err.find("nosuch") != std::string::npos);
    auto no_run = run_cli(t, {"lineage", "99"});
    CHECK(no_run.exit_code != 0);
    CHECK(no_run.err.find("99") != std::string::npos);
    auto both = run_cli(t, {"lineage", "1:d", "--upstream", "--downstream"});
    CHECK(both.exit_code == 2);
  }
}
