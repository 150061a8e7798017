// Store::lineage over a chain (R -> A -> B -> C) and a diamond (A -> L, A -> Rt, L + Rt -> J).
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>

#include "base/hash.hpp"
#include "store/store.hpp"
#include "store_test_util.hpp"

using namespace llmops::store;
using llmops::store::testing::TempDir;

namespace {

Artifact art(const std::string& name) {
  Artifact a;
  a.digest = "sha256:" + llmops::base::sha256_hex(name);
  a.kind = "file";
  a.name = name;
  a.uri = "/blobs/" + name;
  return a;
}
std::string dg(const std::string& name) {
  return art(name).digest;
}

struct Fixture {
  TempDir tmp{"lineage"};
  std::unique_ptr<Store> store;
  int64_t run_id = 0;
  std::map<std::string, int64_t> exec;  // step -> execution id

  Fixture() {
    store = std::move(Store::open(tmp.path)).value();
    NewRun r;
    r.pipeline = "lineage";
    run_id = *store->create_run(r, {"make", "mid", "last", "left", "right", "join"});
    step("make", {{"raw", "R"}}, {{"out", "A"}});
    step("mid", {{"in", "A"}}, {{"out", "B"}});
    step("last", {{"in", "B"}}, {{"out", "C"}});
    step("left", {{"in", "A"}}, {{"out", "L"}});
    step("right", {{"in", "A"}}, {{"out", "Rt"}});
    step("join", {{"left", "L"}, {"right", "Rt"}}, {{"out", "J"}});
  }

  void step(const std::string& name, std::vector<std::pair<std::string, std::string>> ins,
            std::vector<std::pair<std::string, std::string>> outs) {
    auto id = store->begin_execution(run_id, name, 1, "testing/write", "1.0.0", "d", "", "");
    REQUIRE(id);
    ExecutionResult res;
    res.state = State::kSucceeded;
    for (auto& [role, a] : ins) res.inputs.push_back({role, art(a)});
    for (auto& [role, a] : outs) res.outputs.push_back({role, art(a)});
    REQUIRE(store->finish_execution(*id, res));
    exec[name] = *id;
  }

  LineageGraph walk(const std::string& from, bool upstream, int depth) {
    auto g = store->lineage({dg(from)}, upstream, depth);
    INFO(g.status().message());
    REQUIRE(g);
    return *g;
  }
};

// node id -> depth
std::map<std::string, int> depths(const LineageGraph& g) {
  std::map<std::string, int> out;
  for (const auto& n : g.nodes) out[n.id] = n.depth;
  return out;
}

bool has_edge(const LineageGraph& g, const std::string& from, const std::string& to,
              const std::string& role) {
  return std::any_of(g.edges.begin(), g.edges.end(), [&](const LineageEdge& e) {
    return e.from == from && e.to == to && e.role == role;
  });
}

}  // namespace

TEST_CASE("upstream lineage of a chain honours the depth bound", "[lineage]") {
  Fixture f;
  const std::string last = std::to_string(f.exec["last"]);
  const std::string mid = std::to_string(f.exec["mid"]);

  auto g0 = f.walk("C", true, 0);
  CHECK(depths(g0) == std::map<std::string, int>{{dg("C"), 0}});
  CHECK(g0.edges.empty());

  auto g1 = f.walk("C", true, 1);
  CHECK(depths(g1) == std::map<std::string, int>{{dg("C"), 0}, {last, 1}, {dg("B"), 1}});
  CHECK(g1.edges.size() == 2);
  CHECK(has_edge(g1, dg("B"), last, "in"));
  CHECK(has_edge(g1, last, dg("C"), "out"));
  for (const auto& n : g1.nodes) {
    if (n.id == last) {
      CHECK(n.type == "execution");
      CHECK(n.label == "run " + std::to_string(f.run_id) + ": last (testing/write@1.0.0)");
    }
    if (n.id == dg("B")) {
      CHECK(n.type == "artifact");
      CHECK(n.label == "file/B");
    }
  }

  auto g2 = f.walk("C", true, 2);
  CHECK(depths(g2).size() == 5);
  CHECK(depths(g2)[mid] == 2);
  CHECK(depths(g2)[dg("A")] == 2);
  CHECK_FALSE(depths(g2).count(dg("R")));

  auto all = f.walk("C", true, 50);
  CHECK(depths(all).size() == 7);
  CHECK(depths(all)[dg("R")] == 3);
  CHECK(all.edges.size() == 6);
}

TEST_CASE("upstream lineage of a diamond visits the shared ancestor once", "[lineage]") {
  Fixture f;
  auto g = f.walk("J", true, 10);
  auto d = depths(g);
  CHECK(d[dg("J")] == 0);
  CHECK(d[dg("L")] == 1);
  CHECK(d[dg("Rt")] == 1);
  CHECK(d[dg("A")] == 2);
  CHECK(d[dg("R")] == 3);
  CHECK_FALSE(d.count(dg("B")));  // sibling branch is not upstream
  CHECK(std::count_if(g.nodes.begin(), g.nodes.end(),
                      [&](const LineageNode& n) { return n.id == dg("A"); }) == 1);
  const std::string join = std::to_string(f.exec["join"]);
  CHECK(has_edge(g, dg("L"), join, "left"));
  CHECK(has_edge(g, dg("Rt"), join, "right"));
  CHECK(has_edge(g, std::to_string(f.exec["left"]), dg("L"), "out"));
  CHECK(has_edge(g, dg("A"), std::to_string(f.exec["right"]), "in"));
}

TEST_CASE("downstream lineage follows consumers with a depth bound", "[lineage]") {
  Fixture f;
  auto g1 = f.walk("A", false, 1);
  auto d1 = depths(g1);
  CHECK(d1.size() == 7);  // A, mid/left/right, B/L/Rt
  CHECK(d1[dg("B")] == 1);
  CHECK(d1[dg("L")] == 1);
  CHECK_FALSE(d1.count(dg("C")));
  CHECK_FALSE(d1.count(dg("R")));  // upstream side is not included

  auto g2 = f.walk("A", false, 2);
  auto d2 = depths(g2);
  CHECK(d2.size() == 11);  // + last, join, C, J
  CHECK(d2[dg("J")] == 2);
  CHECK(d2[std::to_string(f.exec["join"])] == 2);
  CHECK(has_edge(g2, dg("L"), std::to_string(f.exec["join"]), "left"));
  CHECK(has_edge(g2, std::to_string(f.exec["join"]), dg("J"), "out"));
  CHECK(depths(f.walk("A", false, 9)) == d2);
}

TEST_CASE("lineage includes cached executions and rejects unknown artifacts", "[lineage]") {
  Fixture f;
  NewRun r;
  r.pipeline = "lineage";
  auto run2 = f.store->create_run(r, {"mid"});
  ExecutionResult reuse;
  reuse.inputs.push_back({"in", art("A")});
  reuse.outputs.push_back({"out", art("B")});
  auto cached = f.store->record_cached(*run2, "mid", "testing/write", "1.0.0", "d", "k", reuse);
  REQUIRE(cached);

  auto up = f.walk("B", true, 1);
  auto d = depths(up);
  CHECK(d[std::to_string(f.exec["mid"])] == 1);
  CHECK(d[std::to_string(*cached)] == 1);
  for (const auto& n : up.nodes) {
    if (n.id == std::to_string(*cached)) {
      CHECK(n.label == "run " + std::to_string(*run2) + ": mid (testing/write@1.0.0) [cached]");
    }
  }
  auto down = f.walk("A", false, 1);
  CHECK(depths(down).count(std::to_string(*cached)));

  auto missing = f.store->lineage({"sha256:" + llmops::base::sha256_hex("nope")}, true, 3);
  REQUIRE_FALSE(missing);
  CHECK(missing.status().code() == llmops::StatusCode::kNotFound);

  auto two = f.store->lineage({dg("C"), dg("J")}, true, 1);
  REQUIRE(two);
  CHECK(depths(*two).size() == 7);  // C, J, last, join, B, L, Rt
}
