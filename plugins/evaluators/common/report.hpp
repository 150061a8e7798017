// The evaluation report: report.json (every metric, every gate, baseline deltas, skipped lines),
// report.md (a readable summary with the worst failures) and failures.jsonl (one line per failed
// sample: id, suite, input, expected, got, why). Torch-free.
// Thread safety: free functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gates.hpp"
#include "metrics.hpp"
#include "sample.hpp"

namespace llmops::evaluators {

struct ModelRun {
  std::string label;  // "candidate" | "baseline"
  std::string model;  // digest or path
  Metrics metrics;
  std::vector<SampleOutcome> outcomes;  // parallel to the samples
};

struct ReportInput {
  const std::vector<Sample>* samples = nullptr;
  const ModelRun* candidate = nullptr;
  const ModelRun* baseline = nullptr;  // optional
  const Blessing* blessing = nullptr;
  std::vector<std::string> skipped;                    // unusable data lines
  nlohmann::json settings = nlohmann::json::object();  // parameters that shaped the run
  int worst = 10;                                      // failures shown in the Markdown
};

// candidate - baseline for every metric both have.
Metrics metric_deltas(const Metrics& candidate, const Metrics& baseline);
nlohmann::json report_json(const ReportInput& in);
std::string report_markdown(const ReportInput& in);
std::string failures_jsonl(const ReportInput& in);
// Indexes of the candidate's failed samples, worst first (severity, then per-token loss).
std::vector<size_t> worst_failures(const std::vector<Sample>& samples,
                                   const std::vector<SampleOutcome>& outcomes);

}  // namespace llmops::evaluators
