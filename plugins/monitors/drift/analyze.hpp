// The analysis of monitor/drift: a Profile of the reference (training) data, compared with a window
// of live traffic, gives the report's values and the findings (thresholds crossed), each naming the
// trigger it raises: "drift" (inputs moved away from the training data), "quality" (outputs or the
// model's own perplexity got worse, users complain) or "latency" (p99 or error rate past the SLO).
// Thread safety: pure functions over values.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "stats.hpp"
#include "traffic.hpp"

namespace llmops::monitor {

// Defaults are the documented ones (docs/monitor.md); each is a step parameter of the same name.
struct Thresholds {
  size_t top_k = 100;                  // bins: the reference's top-k n-grams plus "<other>"
  double psi = 0.2;                    // unigram or bigram PSI above this: drift
  double js = 0.1;                     // unigram or bigram JS divergence (bits) above this: drift
  double oov = 0.1;                    // share of requests with >= oov_min_words unseen words
  int64_t oov_min_words = 2;           // (one unseen word is usually a typo)
  double unknown_intent = 0.1;         // share of requests whose phrasing the reference lacks
  double novelty = 0.34;               // a request is novel when this share of its skeleton
                                       // bigrams never occurs in the reference
  double tool_call_invalid = 0.05;     // share of tool-call responses with invalid JSON
  double refusal_increase = 0.15;      // refusal rate above the reference's by more than this
  double response_length_ratio = 2.0;  // mean reply length off by this factor either way
  double perplexity_ratio = 1.5;       // live-prompt perplexity / reference-prompt perplexity
  double latency_p99_ms = 5000;        // SLO
  double error_rate = 0.05;            // SLO: share of non-2xx responses
  double negative_feedback = 0.2;      // share of feedback with score <= 0
  int64_t min_requests = 20;           // fewer requests: report only, never trigger
};

// What the reference data looks like, built once.
struct Profile {
  Counts unigrams, bigrams;
  std::set<std::string> vocabulary;
  Counts word_df;                          // prompts containing each word
  std::set<std::string> skeleton_bigrams;  // see skeleton()
  std::set<std::string> functions;         // tools the assistant called
  double refusal_rate = 0;
  double mean_response_chars = 0;
  size_t prompts = 0;
};
Profile build_profile(const std::vector<Sample>& samples);

// The prompt's words with rare reference words (slot values: titles, names) as "<slot>" and words
// the reference never saw as "<new>", so bigrams describe the phrasing, not the content.
std::vector<std::string> skeleton(const Profile& p, const std::vector<std::string>& words);
// Share of the prompt's skeleton bigrams the reference lacks (0 for prompts under two words).
double novelty(const Profile& p, const std::string& prompt);

struct ModelSignals {
  std::optional<double> live_perplexity, reference_perplexity, eval_perplexity;
};

struct Finding {
  std::string trigger;  // drift | quality | latency
  std::string reason;   // one line, with the value and the threshold
  std::string metric;
  double value = 0, threshold = 0;
};

struct Analysis {
  nlohmann::json values = nlohmann::json::object();  // metric name -> number
  std::vector<Finding> findings;
  size_t requests = 0;
  bool enough_data = true;
  // The findings of one trigger kind as a payload: {"reasons": [...], "values": {...}}.
  nlohmann::json payload(const std::string& trigger) const;
  std::vector<std::string> triggers() const;  // distinct, in order drift, quality, latency
};

Analysis analyze(const Profile& reference, const std::vector<LoggedRequest>& window,
                 const std::map<std::string, double>& feedback, const Thresholds& t,
                 const ModelSignals& model = {});

nlohmann::json report_json(const Analysis& a, const Thresholds& t, const nlohmann::json& context);
std::string report_markdown(const Analysis& a, const Thresholds& t, const nlohmann::json& context);

}  // namespace llmops::monitor
