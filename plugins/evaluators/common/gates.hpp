// Acceptance gates and the blessing they decide, in the manner of TFX's evaluator: absolute
// thresholds on a metric, and change thresholds against a baseline model.
//
// `gates:` accepts a list whose items are any of
//     "exact_match >= 0.8"                                  compact string (ops >= > <= < == !=)
//     {metric: exact_match, op: ">=", value: 0.8}
//     {metric: exact_match, min_delta: 0.0}                 change threshold
//     {exact_match: {min_delta: 0.0}}                       the same, keyed by metric
//     {over_refusal: "<= 0.05"}  /  {over_refusal: {op: "<=", value: 0.05}}
// or a map {metric: spec, ...} with the keyed specs above.
//
// A change threshold compares the improvement, (candidate - baseline) for higher-is-better
// metrics and (baseline - candidate) for lower-is-better ones, with min_delta: improvement >=
// min_delta. `min_delta: 0` means "no regression"; `-0.02` tolerates a small one. Metrics without
// a known direction need `direction: higher|lower` in the gate. Without a baseline a change
// threshold is `skipped` (a first model has nothing to regress against). A metric that was not
// measured (no samples of its kind) fails its gate. The model is blessed when no gate failed.
// Thread safety: free functions.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "llmops/status.hpp"
#include "metrics.hpp"

namespace llmops::evaluators {

struct Gate {
  enum class Kind { kAbsolute, kDelta };
  std::string metric;
  Kind kind = Kind::kAbsolute;
  std::string op = ">=";                      // absolute gates
  double threshold = 0;                       // value (absolute) or min_delta (delta)
  Direction direction = Direction::kUnknown;  // delta gates
  std::string text;  // canonical form, e.g. "exact_match >= 0.8" or "exact_match: min_delta 0"
};

Result<std::vector<Gate>> parse_gates(const nlohmann::json& spec);
// Every gate's metric must be one the evaluation can produce for these suites.
Status check_gate_metrics(const std::vector<Gate>& gates, const std::vector<std::string>& suites);

struct GateResult {
  Gate gate;
  std::optional<double> value;     // candidate's metric
  std::optional<double> baseline;  // baseline's metric
  std::optional<double> delta;     // candidate - baseline
  std::string verdict;             // pass | fail | skipped
  std::string reason;
};

struct Blessing {
  bool blessed = true;
  int failed = 0, passed = 0, skipped = 0;
  std::vector<GateResult> gates;
  nlohmann::json to_json() const;
};

bool compare(double value, const std::string& op, double threshold);
Blessing evaluate_gates(const std::vector<Gate>& gates, const Metrics& candidate,
                        const Metrics* baseline);

}  // namespace llmops::evaluators
