// Gate parsing and evaluation; see gates.hpp.
#include "gates.hpp"

#include <cmath>
#include <regex>
#include <sstream>

namespace llmops::evaluators {

using nlohmann::json;

namespace {

bool valid_op(const std::string& op) {
  return op == ">=" || op == ">" || op == "<=" || op == "<" || op == "==" || op == "!=";
}

std::string number_text(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// "exact_match >= 0.8" (metric given) or ">= 0.8" (metric from the key).
Result<Gate> parse_compact(const std::string& text, const std::string& metric) {
  static const std::regex kFull(
      R"(^\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*(>=|<=|==|!=|>|<)\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$)");
  static const std::regex kOpOnly(
      R"(^\s*(>=|<=|==|!=|>|<)\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$)");
  std::smatch m;
  Gate g;
  if (metric.empty() && std::regex_match(text, m, kFull)) {
    g.metric = m[1];
    g.op = m[2];
    g.threshold = std::stod(m[3]);
  } else if (!metric.empty() && std::regex_match(text, m, kOpOnly)) {
    g.metric = metric;
    g.op = m[1];
    g.threshold = std::stod(m[2]);
  } else {
    return Status::invalid("gate \"" + text + "\" is not of the form " +
                           (metric.empty() ? "\"METRIC OP NUMBER\"" : "\"OP NUMBER\"") +
                           " with OP one of >= > <= < == !=");
  }
  return g;
}

Result<Gate> parse_object(const json& o, std::string metric) {
  if (o.contains("metric")) {
    if (!o["metric"].is_string()) return Status::invalid("a gate's \"metric\" must be a string");
    metric = o["metric"].get<std::string>();
  }
  if (metric.empty()) return Status::invalid("a gate needs a metric: " + o.dump());
  Gate g;
  g.metric = metric;
  const bool delta = o.contains("min_delta");
  const bool absolute = o.contains("value") || o.contains("op");
  if (delta == absolute)
    return Status::invalid("gate on " + metric +
                           " needs either {op, value} (absolute) or {min_delta} (change "
                           "against the baseline): " +
                           o.dump());
  for (const auto& [k, _] : o.items())
    if (k != "metric" && k != "op" && k != "value" && k != "min_delta" && k != "direction")
      return Status::invalid("gate on " + metric + ": unknown key \"" + k +
                             "\" (known: metric, op, value, min_delta, direction)");
  if (o.contains("direction")) {
    const auto d = o["direction"].is_string() ? o["direction"].get<std::string>() : "";
    if (d != "higher" && d != "lower")
      return Status::invalid("gate on " + metric + ": direction must be \"higher\" or \"lower\"");
    g.direction = d == "higher" ? Direction::kHigher : Direction::kLower;
  }
  if (delta) {
    if (!o["min_delta"].is_number())
      return Status::invalid("gate on " + metric + ": min_delta must be a number");
    g.kind = Gate::Kind::kDelta;
    g.threshold = o["min_delta"].get<double>();
    if (g.direction == Direction::kUnknown) g.direction = metric_direction(metric);
    if (g.direction == Direction::kUnknown)
      return Status::invalid("gate on " + metric +
                             ": the metric has no known direction; add direction: higher|lower");
    return g;
  }
  g.op = o.contains("op") && o["op"].is_string() ? o["op"].get<std::string>() : ">=";
  if (!valid_op(g.op))
    return Status::invalid("gate on " + metric + ": op must be one of >= > <= < == !=");
  if (!o.contains("value") || !o["value"].is_number())
    return Status::invalid("gate on " + metric + ": value must be a number");
  g.threshold = o["value"].get<double>();
  return g;
}

// {metric: spec} where spec is a string ">= 0.8", a number (>=), or an object.
Result<Gate> parse_keyed(const std::string& metric, const json& spec) {
  if (spec.is_string()) return parse_compact(spec.get<std::string>(), metric);
  if (spec.is_number()) return parse_object(json{{"value", spec}}, metric);
  if (spec.is_object()) return parse_object(spec, metric);
  return Status::invalid("gate on " + metric + " must be a string, a number or an object");
}

void finish(Gate& g) {
  if (g.kind == Gate::Kind::kDelta)
    g.text = g.metric + ": min_delta " + number_text(g.threshold) + " (" +
             direction_name(g.direction) + " is better)";
  else
    g.text = g.metric + " " + g.op + " " + number_text(g.threshold);
}

}  // namespace

Result<std::vector<Gate>> parse_gates(const json& spec) {
  std::vector<Gate> out;
  auto push = [&](Result<Gate> g) -> Status {
    if (!g) return g.status();
    finish(*g);
    out.push_back(std::move(*g));
    return Status::ok();
  };
  if (spec.is_null()) return out;
  if (spec.is_object()) {
    for (const auto& [k, v] : spec.items())
      if (auto s = push(parse_keyed(k, v)); !s) return s;
    return out;
  }
  if (!spec.is_array()) return Status::invalid("gates must be a list or a map");
  for (const auto& item : spec) {
    Status s = Status::ok();
    if (item.is_string()) {
      s = push(parse_compact(item.get<std::string>(), ""));
    } else if (item.is_object() && item.contains("metric")) {
      s = push(parse_object(item, ""));
    } else if (item.is_object() && item.size() == 1) {
      s = push(parse_keyed(item.begin().key(), item.begin().value()));
    } else {
      s = Status::invalid("a gate must be a string like \"exact_match >= 0.8\" or an object: " +
                          item.dump());
    }
    if (!s) return s;
  }
  return out;
}

Status check_gate_metrics(const std::vector<Gate>& gates, const std::vector<std::string>& suites) {
  for (const auto& g : gates)
    if (!is_known_metric(g.metric, suites)) {
      std::string known;
      for (const auto& n : metric_names()) known += (known.empty() ? "" : ", ") + n;
      std::string ss;
      for (const auto& s : suites)
        if (s != "dataset") ss += (ss.empty() ? "" : ", ") + s;
      return Status::invalid("gate \"" + g.text + "\" names an unknown metric '" + g.metric +
                             "' (metrics: " + known + "; prefix a suite name to gate a suite" +
                             (ss.empty() ? "" : ": " + ss) + ")");
    }
  return Status::ok();
}

bool compare(double v, const std::string& op, double t) {
  if (std::isnan(v)) return false;
  if (op == ">=") return v >= t;
  if (op == ">") return v > t;
  if (op == "<=") return v <= t;
  if (op == "<") return v < t;
  if (op == "==") return std::abs(v - t) <= 1e-12 * std::max(1.0, std::abs(t));
  if (op == "!=") return !compare(v, "==", t);
  return false;
}

Blessing evaluate_gates(const std::vector<Gate>& gates, const Metrics& cand, const Metrics* base) {
  Blessing b;
  for (const auto& g : gates) {
    GateResult r;
    r.gate = g;
    if (auto it = cand.find(g.metric); it != cand.end()) r.value = it->second;
    if (base)
      if (auto it = base->find(g.metric); it != base->end()) r.baseline = it->second;
    if (r.value && r.baseline) r.delta = *r.value - *r.baseline;
    if (!r.value) {
      r.verdict = "fail";
      r.reason = "not measured: no samples of the kind this metric needs";
    } else if (g.kind == Gate::Kind::kAbsolute) {
      const bool ok = compare(*r.value, g.op, g.threshold);
      r.verdict = ok ? "pass" : "fail";
      r.reason = number_text(*r.value) + (ok ? " satisfies " : " does not satisfy ") + g.op + " " +
                 number_text(g.threshold);
    } else if (!base) {
      r.verdict = "skipped";
      r.reason = "no baseline model to compare against";
    } else if (!r.baseline) {
      r.verdict = "fail";
      r.reason = "the baseline has no value for this metric";
    } else {
      const double improvement = g.direction == Direction::kLower ? -*r.delta : *r.delta;
      const bool ok = improvement >= g.threshold;
      r.verdict = ok ? "pass" : "fail";
      r.reason = "improvement " + number_text(improvement) + (ok ? " >= " : " < ") + "min_delta " +
                 number_text(g.threshold);
    }
    if (r.verdict == "fail") ++b.failed;
    if (r.verdict == "pass") ++b.passed;
    if (r.verdict == "skipped") ++b.skipped;
    b.gates.push_back(std::move(r));
  }
  b.blessed = b.failed == 0;
  return b;
}

json Blessing::to_json() const {
  json gs = json::array();
  for (const auto& r : gates) {
    json j{{"gate", r.gate.text},
           {"metric", r.gate.metric},
           {"kind", r.gate.kind == Gate::Kind::kDelta ? "delta" : "absolute"},
           {"verdict", r.verdict},
           {"reason", r.reason}};
    if (r.gate.kind == Gate::Kind::kDelta) {
      j["min_delta"] = r.gate.threshold;
      j["direction"] = direction_name(r.gate.direction);
    } else {
      j["op"] = r.gate.op;
      j["threshold"] = r.gate.threshold;
    }
    j["value"] = r.value ? json(*r.value) : json(nullptr);
    j["baseline"] = r.baseline ? json(*r.baseline) : json(nullptr);
    j["delta"] = r.delta ? json(*r.delta) : json(nullptr);
    gs.push_back(std::move(j));
  }
  return {{"blessed", blessed},
          {"gates_passed", passed},
          {"gates_failed", failed},
          {"gates_skipped", skipped},
          {"gates", gs}};
}

}  // namespace llmops::evaluators
