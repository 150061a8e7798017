// Gates: every accepted form, absolute and change thresholds, pass and fail as specified.
#include <catch2/catch.hpp>

#include "gates.hpp"

using namespace llmops::evaluators;
using nlohmann::json;

namespace {
std::vector<Gate> gates(const std::string& json_text) {
  auto g = parse_gates(json::parse(json_text));
  INFO(json_text << ": " << (g ? "" : g.status().message()));
  REQUIRE(g);
  return *g;
}
}  // namespace

TEST_CASE("gates parse from strings, objects and maps", "[evaluators][gates]") {
  auto g = gates(R"([
    "exact_match >= 0.8",
    {"metric": "over_refusal", "op": "<=", "value": 0.05},
    {"exact_match": {"min_delta": 0.0}},
    {"metric": "loss", "min_delta": -0.1},
    {"safety.refusal_rate": "== 1"},
    {"response_chars": {"min_delta": 0, "direction": "lower"}}
  ])");
  REQUIRE(g.size() == 6);
  CHECK(g[0].metric == "exact_match");
  CHECK(g[0].kind == Gate::Kind::kAbsolute);
  CHECK(g[0].op == ">=");
  CHECK(g[0].threshold == 0.8);
  CHECK(g[0].text == "exact_match >= 0.8");
  CHECK(g[1].op == "<=");
  CHECK(g[1].threshold == 0.05);
  CHECK(g[2].kind == Gate::Kind::kDelta);
  CHECK(g[2].direction == Direction::kHigher);
  CHECK(g[3].direction == Direction::kLower);
  CHECK(g[3].threshold == -0.1);
  CHECK(g[4].metric == "safety.refusal_rate");
  CHECK(g[4].op == "==");
  CHECK(g[5].direction == Direction::kLower);

  auto m = gates(R"({"exact_match": ">= 0.5", "loss": {"min_delta": 0}})");
  REQUIRE(m.size() == 2);
  CHECK(gates("null").empty());
  CHECK(gates("[]").empty());
}

TEST_CASE("bad gates are errors that say what is wrong", "[evaluators][gates]") {
  for (const char* bad :
       {R"(["exact_match >> 0.8"])", R"(["exact_match >= high"])", R"([{"metric": "x"}])",
        R"([{"metric": "x", "op": "~", "value": 1}])", R"([{"x": {"min_delta": "a"}}])",
        R"([{"metric": "x", "value": 1, "min_delta": 0}])",
        R"([{"response_chars": {"min_delta": 0}}])", R"([{"metric": "x", "value": 1, "typo": 2}])",
        R"([42])", R"("exact_match >= 1")"}) {
    INFO(bad);
    auto g = parse_gates(json::parse(bad));
    CHECK_FALSE(g);
    if (!g) CHECK_FALSE(g.status().message().empty());
  }
  auto unknown = parse_gates(json::parse(R"(["exact_mach >= 0.8"])"));
  REQUIRE(unknown);
  auto st = check_gate_metrics(*unknown, {"dataset", "safety"});
  CHECK_FALSE(st);
  CHECK(st.message().find("exact_mach") != std::string::npos);
  CHECK(check_gate_metrics(gates(R"(["safety.refusal_rate >= 1"])"), {"dataset", "safety"}));
  CHECK_FALSE(check_gate_metrics(gates(R"(["safety.refusal_rate >= 1"])"), {"dataset"}));
}

TEST_CASE("absolute gates pass and fail, one failure withholds the blessing",
          "[evaluators][gates]") {
  const Metrics m{{"exact_match", 0.85}, {"over_refusal", 0.1}};
  auto pass = evaluate_gates(gates(R"(["exact_match >= 0.8"])"), m, nullptr);
  CHECK(pass.blessed);
  CHECK(pass.gates[0].verdict == "pass");
  CHECK(*pass.gates[0].value == 0.85);

  auto mixed =
      evaluate_gates(gates(R"(["exact_match >= 0.8", "over_refusal <= 0.05"])"), m, nullptr);
  CHECK_FALSE(mixed.blessed);
  CHECK(mixed.passed == 1);
  CHECK(mixed.failed == 1);
  CHECK(mixed.gates[1].verdict == "fail");
  auto j = mixed.to_json();
  CHECK(j["blessed"] == false);
  CHECK(j["gates"][1]["threshold"] == 0.05);
  CHECK(j["gates"][1]["value"] == 0.1);
  CHECK(j["gates"][1]["verdict"] == "fail");

  // A metric that was not measured fails its gate.
  auto missing = evaluate_gates(gates(R"(["refusal_rate >= 0.9"])"), m, nullptr);
  CHECK_FALSE(missing.blessed);
  CHECK(missing.gates[0].reason.find("not measured") != std::string::npos);
  // Boundaries: >= and <= include the threshold, > and < do not.
  CHECK(compare(0.8, ">=", 0.8));
  CHECK_FALSE(compare(0.8, ">", 0.8));
  CHECK(compare(0.8, "<=", 0.8));
  CHECK_FALSE(compare(0.8, "<", 0.8));
  CHECK(compare(0.8, "==", 0.8));
  CHECK(evaluate_gates({}, m, nullptr).blessed);  // no gates: blessed
}

TEST_CASE("change thresholds follow each metric's direction", "[evaluators][gates]") {
  const Metrics base{{"exact_match", 0.80}, {"loss", 1.50}};
  const Metrics better{{"exact_match", 0.85}, {"loss", 1.40}};
  const Metrics worse{{"exact_match", 0.78}, {"loss", 1.55}};
  const auto g = gates(R"([{"exact_match": {"min_delta": 0.0}}, {"loss": {"min_delta": 0.0}}])");

  auto up = evaluate_gates(g, better, &base);
  CHECK(up.blessed);
  CHECK(*up.gates[0].delta == Approx(0.05));
  CHECK(*up.gates[1].delta == Approx(-0.10));  // lower loss is an improvement

  auto down = evaluate_gates(g, worse, &base);
  CHECK_FALSE(down.blessed);
  CHECK(down.gates[0].verdict == "fail");
  CHECK(down.gates[1].verdict == "fail");

  // A tolerance lets a small regression through.
  auto tolerant = evaluate_gates(
      gates(R"([{"exact_match": {"min_delta": -0.05}}, {"loss": {"min_delta": -0.1}}])"), worse,
      &base);
  CHECK(tolerant.blessed);

  // Without a baseline a change threshold is skipped, not failed.
  auto first = evaluate_gates(g, worse, nullptr);
  CHECK(first.blessed);
  CHECK(first.skipped == 2);
  CHECK(first.gates[0].verdict == "skipped");
}

TEST_CASE("a change gate on an extra suite: skipped for a first model, decisive with a baseline",
          "[evaluators][gates]") {
  // The main pipeline's "v2 must beat v1 on the drifted intents".
  const auto g = gates(R"(["exact_match >= 0.2", {"drifted.exact_match": {"min_delta": 0.05}}])");
  REQUIRE(g[1].kind == Gate::Kind::kDelta);
  CHECK(g[1].direction == Direction::kHigher);  // from the metric after the suite prefix
  CHECK(check_gate_metrics(g, {"dataset", "drifted", "safety"}));
  CHECK_FALSE(check_gate_metrics(g, {"dataset", "safety"}));  // the suite is not evaluated

  const Metrics v1{{"exact_match", 0.30}, {"drifted.exact_match", 0.05}};
  const Metrics v2{{"exact_match", 0.28}, {"drifted.exact_match", 0.40}};
  // Cycle 1: nothing deployed, no baseline: the change gate does not block the blessing.
  auto first = evaluate_gates(g, v1, nullptr);
  CHECK(first.blessed);
  CHECK(first.gates[1].verdict == "skipped");
  // Cycle 2: v2 against the deployed v1.
  auto second = evaluate_gates(g, v2, &v1);
  CHECK(second.blessed);
  CHECK(second.gates[1].verdict == "pass");
  CHECK(*second.gates[1].delta == Approx(0.35));
  // A candidate no better than the deployed model on the drifted suite is not blessed.
  auto same = evaluate_gates(g, v1, &v1);
  CHECK_FALSE(same.blessed);
  CHECK(same.gates[1].verdict == "fail");
}

TEST_CASE("suite names", "[evaluators][metrics]") {
  CHECK(valid_suite_name("drifted"));
  CHECK(valid_suite_name("_x-2"));
  CHECK_FALSE(valid_suite_name(""));
  CHECK_FALSE(valid_suite_name("2x"));
  CHECK_FALSE(valid_suite_name("a.b"));
  CHECK_FALSE(valid_suite_name("a b"));
}
