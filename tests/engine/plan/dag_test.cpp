// Dag: build from a pipeline, cycles, stable topological order, neighbours, large graphs.
#include <algorithm>

#include <catch2/catch.hpp>

#include "engine/plan/dag.hpp"
#include "engine/spec/loader.hpp"

using llmops::engine::Dag;
using llmops::engine::PipelineSpec;
using llmops::engine::StepSpec;

namespace {

PipelineSpec make_spec(const std::vector<std::pair<std::string, std::vector<std::string>>>& steps) {
  PipelineSpec spec;
  for (const auto& [name, needs] : steps) {
    StepSpec s;
    s.name = name;
    s.needs = needs;
    spec.steps.push_back(s);
  }
  return spec;
}

}  // namespace

TEST_CASE("diamond: order, neighbours and descendants", "[dag]") {
  auto dag = Dag::build(make_spec({{"d", {"b", "c"}}, {"b", {"a"}}, {"c", {"a"}}, {"a", {}}}));
  REQUIRE(dag.size() == 4);
  CHECK(dag.names() == std::vector<std::string>{"d", "b", "c", "a"});
  CHECK(dag.index("a") == 3);
  CHECK(dag.index("zzz") == -1);
  CHECK_FALSE(dag.find_cycle());
  CHECK(dag.topo_order() == std::vector<std::string>{"a", "b", "c", "d"});
  CHECK(dag.upstream(dag.index("d")) == std::vector<int>{1, 2});
  CHECK(dag.downstream(dag.index("a")) == std::vector<int>{1, 2});
  CHECK(dag.descendants(dag.index("a")) == std::vector<int>{0, 1, 2});
  CHECK(dag.ancestors(dag.index("d")) == std::vector<int>{1, 2, 3});
  CHECK(dag.descendants(dag.index("d")).empty());
}

TEST_CASE("topological order breaks ties by file order", "[dag]") {
  auto dag = Dag::build(make_spec({{"z", {}}, {"y", {}}, {"x", {"z"}}, {"w", {}}}));
  CHECK(dag.topo_order() == std::vector<std::string>{"z", "y", "x", "w"});
}

TEST_CASE("unknown and duplicate needs are ignored", "[dag]") {
  auto dag = Dag::build(make_spec({{"a", {}}, {"b", {"a", "a", "ghost"}}}));
  CHECK(dag.upstream(1) == std::vector<int>{0});
  CHECK(dag.topo_order() == std::vector<std::string>{"a", "b"});
}

TEST_CASE("cycles are found and named", "[dag]") {
  auto two = Dag::build(make_spec({{"train", {"evaluate"}}, {"evaluate", {"train"}}}));
  auto cycle = two.find_cycle();
  REQUIRE(cycle);
  CHECK(*cycle == std::vector<std::string>{"train", "evaluate", "train"});

  auto three = Dag::build(make_spec(
      {{"start", {}}, {"a", {"start", "c"}}, {"b", {"a"}}, {"c", {"b"}}, {"end", {"c"}}}));
  cycle = three.find_cycle();
  REQUIRE(cycle);
  CHECK(*cycle == std::vector<std::string>{"a", "b", "c", "a"});

  auto self = Dag::from_edges({"s"}, {{"s", "s"}});
  CHECK(*self.find_cycle() == std::vector<std::string>{"s", "s"});
}

TEST_CASE("a 1,000-step chain is ordered without recursion limits", "[dag]") {
  std::vector<std::string> names;
  std::vector<std::pair<std::string, std::string>> edges;
  // Declared in reverse so that the order must come from the edges, not the file.
  for (int i = 999; i >= 0; --i) names.push_back("s" + std::to_string(i));
  for (int i = 0; i + 1 < 1000; ++i)
    edges.emplace_back("s" + std::to_string(i), "s" + std::to_string(i + 1));
  auto dag = Dag::from_edges(names, edges);
  CHECK_FALSE(dag.find_cycle());
  auto order = dag.topo_order();
  REQUIRE(order.size() == 1000);
  for (int i = 0; i < 1000; ++i) CHECK(order[i] == "s" + std::to_string(i));
  CHECK(dag.descendants(dag.index("s0")).size() == 999);

  // Closing the chain makes a 1,000-step cycle.
  edges.emplace_back("s999", "s0");
  auto cyclic = Dag::from_edges(names, edges);
  auto cycle = cyclic.find_cycle();
  REQUIRE(cycle);
  CHECK(cycle->size() == 1001);
  CHECK(cycle->front() == cycle->back());
}

TEST_CASE("wide fan-out and fan-in", "[dag]") {
  std::vector<std::string> names{"root"};
  std::vector<std::pair<std::string, std::string>> edges;
  for (int i = 0; i < 2000; ++i) {
    names.push_back("w" + std::to_string(i));
    edges.emplace_back("root", "w" + std::to_string(i));
    edges.emplace_back("w" + std::to_string(i), "sink");
  }
  names.push_back("sink");
  auto dag = Dag::from_edges(names, edges);
  auto order = dag.topo_order();
  REQUIRE(order.size() == 2002);
  CHECK(order.front() == "root");
  CHECK(order.back() == "sink");
  CHECK(order[1] == "w0");
  CHECK(order[2000] == "w1999");
  CHECK(dag.downstream(0).size() == 2000);
  CHECK(dag.upstream(dag.index("sink")).size() == 2000);
}

TEST_CASE("Dag::build uses needs implied by templates", "[dag]") {
  auto r = llmops::engine::load_pipeline_text(R"(apiVersion: llmops/v1
kind: Pipeline
name: implied
steps:
  second:
    uses: testing/concat
    inputs: {x: "${{ steps.first.outputs.out }}"}
  first:
    uses: testing/write
    with: {text: hi}
)",
                                              "implied.yaml");
  REQUIRE(r.ok());
  auto dag = Dag::build(*r.spec);
  CHECK(dag.topo_order() == std::vector<std::string>{"first", "second"});
}
