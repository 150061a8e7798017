// Report writing; see report.hpp.
#include "report.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

namespace llmops::evaluators {

using nlohmann::json;

namespace {

std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string one_line(std::string s, size_t max = 160) {
  for (auto& c : s)
    if (c == '\n' || c == '\r' || c == '|') c = c == '|' ? '/' : ' ';
  if (s.size() > max) s = s.substr(0, max) + "...";
  return s;
}

std::string expected_text(const Sample& s) {
  const auto& m = s.expected();
  if (m.tool_calls.empty()) return m.content;
  std::string t;
  for (const auto& c : m.tool_calls) t += (t.empty() ? "" : " ") + c.name + c.arguments_json;
  return t;
}

double per_token_loss(const SampleOutcome& o) {
  return o.loss_tokens > 0 ? o.nll / static_cast<double>(o.loss_tokens) : 0.0;
}

}  // namespace

Metrics metric_deltas(const Metrics& cand, const Metrics& base) {
  Metrics d;
  for (const auto& [k, v] : cand)
    if (auto it = base.find(k); it != base.end()) d[k] = v - it->second;
  return d;
}

std::vector<size_t> worst_failures(const std::vector<Sample>& samples,
                                   const std::vector<SampleOutcome>& outcomes) {
  std::vector<size_t> idx;
  for (size_t i = 0; i < samples.size() && i < outcomes.size(); ++i)
    if (outcomes[i].failed()) idx.push_back(i);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
    const int sa = failure_severity(outcomes[a].why), sb = failure_severity(outcomes[b].why);
    if (sa != sb) return sa > sb;
    return per_token_loss(outcomes[a]) > per_token_loss(outcomes[b]);
  });
  return idx;
}

json report_json(const ReportInput& in) {
  const auto& samples = *in.samples;
  json suites = json::object();
  for (const auto& s : samples) {
    auto& j = suites[s.suite];
    if (j.is_null()) j = {{"samples", 0}, {"tool_call", 0}, {"refusal", 0}, {"answer", 0}};
    j["samples"] = j["samples"].get<int>() + 1;
    j[expect_name(s.expect)] = j[expect_name(s.expect)].get<int>() + 1;
  }
  json failures_by_reason = json::object();
  for (const auto& o : in.candidate->outcomes)
    if (o.failed()) failures_by_reason[o.why] = failures_by_reason.value(o.why, 0) + 1;
  json j{{"version", 1},
         {"settings", in.settings},
         {"suites", suites},
         {"candidate", {{"model", in.candidate->model}, {"metrics", in.candidate->metrics}}},
         {"failures_by_reason", failures_by_reason},
         {"skipped_lines", in.skipped}};
  if (in.baseline) {
    j["baseline"] = {{"model", in.baseline->model}, {"metrics", in.baseline->metrics}};
    j["deltas"] = metric_deltas(in.candidate->metrics, in.baseline->metrics);
    // Per-sample changes: which samples the candidate newly fails or newly passes.
    json regressed = json::array(), fixed = json::array();
    for (size_t i = 0; i < samples.size(); ++i) {
      const bool c = in.candidate->outcomes[i].failed(), b = in.baseline->outcomes[i].failed();
      if (c && !b) regressed.push_back(samples[i].id);
      if (!c && b) fixed.push_back(samples[i].id);
    }
    j["regressed_samples"] = regressed;
    j["fixed_samples"] = fixed;
  } else {
    j["baseline"] = nullptr;
  }
  if (in.blessing) j["blessing"] = in.blessing->to_json();
  return j;
}

std::string report_markdown(const ReportInput& in) {
  const auto& samples = *in.samples;
  const auto& cm = in.candidate->metrics;
  std::string md = "# Evaluation report\n\n";
  if (in.blessing)
    md += std::string("**") + (in.blessing->blessed ? "BLESSED" : "NOT BLESSED") +
          "**: " + std::to_string(in.blessing->passed) + " gate(s) passed, " +
          std::to_string(in.blessing->failed) + " failed, " + std::to_string(in.blessing->skipped) +
          " skipped.\n\n";
  md += "Candidate: `" + in.candidate->model + "`";
  if (in.baseline) md += "; baseline: `" + in.baseline->model + "`";
  md += "\n\n";
  if (in.blessing && !in.blessing->gates.empty()) {
    md += "## Gates\n\n| gate | value | baseline | verdict | reason |\n|---|---|---|---|---|\n";
    for (const auto& r : in.blessing->gates)
      md += "| " + r.gate.text + " | " + (r.value ? fmt(*r.value) : "-") + " | " +
            (r.baseline ? fmt(*r.baseline) : "-") + " | " + r.verdict + " | " + one_line(r.reason) +
            " |\n";
    md += "\n";
  }
  md += "## Metrics\n\n| metric | candidate |";
  md += in.baseline ? " baseline | delta |\n|---|---|---|---|\n" : "\n|---|---|\n";
  for (const auto& [k, v] : cm) {
    md += "| " + k + " | " + fmt(v) + " |";
    if (in.baseline) {
      auto it = in.baseline->metrics.find(k);
      md += it == in.baseline->metrics.end()
                ? " - | - |"
                : " " + fmt(it->second) + " | " + fmt(v - it->second) + " |";
    }
    md += "\n";
  }
  const auto worst = worst_failures(samples, in.candidate->outcomes);
  md += "\n## Worst failures (" + std::to_string(worst.size()) + " failed of " +
        std::to_string(samples.size()) + ")\n\n";
  if (worst.empty()) md += "None.\n";
  for (size_t k = 0; k < worst.size() && static_cast<int>(k) < in.worst; ++k) {
    const auto& s = samples[worst[k]];
    const auto& o = in.candidate->outcomes[worst[k]];
    std::string user;
    for (size_t i = 0; i < s.target; ++i)
      if (s.messages[i].role == "user") user = s.messages[i].content;
    md += std::to_string(k + 1) + ". `" + s.id + "` (" + s.suite + ", " + o.why +
          "): " + one_line(o.detail) + "\n   - user: " + one_line(user) +
          "\n   - expected: " + one_line(expected_text(s)) +
          "\n   - got: " + one_line(o.generated) + "\n";
  }
  if (!in.skipped.empty())
    md += "\n" + std::to_string(in.skipped.size()) +
          " data line(s) were skipped (see report.json, skipped_lines).\n";
  return md;
}

std::string failures_jsonl(const ReportInput& in) {
  std::string out;
  const auto& samples = *in.samples;
  for (auto i : worst_failures(samples, in.candidate->outcomes)) {
    const auto& s = samples[i];
    const auto& o = in.candidate->outcomes[i];
    json j{{"id", s.id},
           {"suite", s.suite},
           {"category", s.category},
           {"expect", expect_name(s.expect)},
           {"input", s.prompt_json()},
           {"expected", s.expected_json()},
           {"got", o.generated},
           {"why", o.why},
           {"detail", o.detail}};
    if (in.baseline) j["baseline_got"] = in.baseline->outcomes[i].generated;
    out += j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  }
  return out;
}

}  // namespace llmops::evaluators
