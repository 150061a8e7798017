// Scoring one generated reply against its sample, and aggregating scores into named metrics.
// Torch-free: the model side only supplies, per sample, the summed negative log-likelihood of the
// assistant tokens, their count, the generated text and timings.
//
// Metric names (per suite; the main data set's are bare, others are prefixed "<suite>."):
//   samples, loss (mean NLL per assistant token), perplexity (exp(loss)), loss_tokens,
//   tool_call_samples, tool_call_valid, tool_name_accuracy, exact_match   (tool-call samples)
//   refusal_samples, refusal_rate                                         (refusal samples)
//   over_refusal_samples, over_refusal        (samples that must not be refused: tool call/answer)
//   pass_rate (samples with no failure), response_chars, response_tokens, seconds_per_sample
// A rate whose denominator is zero is not reported (so a gate on it fails as "not measured").
// Thread safety: free functions.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "refusal.hpp"
#include "sample.hpp"

namespace llmops::evaluators {

using Metrics = std::map<std::string, double>;

struct SampleOutcome {
  // Filled by the model side.
  double nll = 0;           // summed over the sample's assistant tokens
  int64_t loss_tokens = 0;  // assistant tokens counted in nll
  std::string generated;    // decoded reply (special tokens skipped)
  int64_t generated_tokens = 0;
  double seconds = 0;
  // Filled by score().
  bool tool_valid = false;
  bool name_ok = false;
  bool exact = false;
  bool refused = false;
  std::string refusal_phrase;
  std::string why;     // "" when the sample passed: no_refusal, over_refusal, invalid_tool_call,
                       // wrong_function, wrong_arguments
  std::string detail;  // human words for `why`
  bool failed() const { return !why.empty(); }
};

// Judges `o.generated` against the sample: tool calls parsed and compared, refusal detected.
void score(const Sample& s, const RefusalDetector& refusals, SampleOutcome& o);

// Metrics of the samples whose suite is `suite`, prefixed by `prefix`.
Metrics aggregate(const std::vector<Sample>& samples, const std::vector<SampleOutcome>& outcomes,
                  const std::string& suite, const std::string& prefix);
// All suites: "dataset" bare, every other suite as "<suite>.".
Metrics aggregate_all(const std::vector<Sample>& samples,
                      const std::vector<SampleOutcome>& outcomes);

// Whether higher values of a metric are better (after stripping a suite prefix).
enum class Direction { kHigher, kLower, kUnknown };
Direction metric_direction(const std::string& name);
const char* direction_name(Direction d);  // "higher" | "lower" | "unknown"
// The metric names aggregate() can produce for one suite (unprefixed).
const std::vector<std::string>& metric_names();
// "safety.exact_match" with suites {"dataset","safety"} -> true; "exact_mach" -> false.
bool is_known_metric(const std::string& name, const std::vector<std::string>& suites);

// A name an extra suite may have (its metrics are "<name>.<metric>"): a letter or '_', then
// letters, digits, '_' or '-'.
bool valid_suite_name(const std::string& name);

// Severity of a failure, for ordering the worst ones first (0 = passed).
int failure_severity(const std::string& why);

}  // namespace llmops::evaluators
