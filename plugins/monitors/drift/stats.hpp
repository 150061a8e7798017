// The statistics behind monitor/drift: word n-gram distributions, the Population Stability Index
// (PSI) and the Jensen-Shannon divergence between a reference and a current distribution, and
// percentiles. Distributions are counts keyed by feature; both measures compare them bin by bin
// over the reference's top-k features plus one "<other>" bin, so sampling noise in the long tail
// of rare words does not look like drift, while new vocabulary piles up in "<other>".
// Thread safety: pure functions over values.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace llmops::monitor {

using Counts = std::unordered_map<std::string, double>;

inline constexpr const char* kOtherBin = "<other>";

// Lower-cased words (letters, digits, apostrophes); numbers become "<num>".
std::vector<std::string> words(std::string_view text);
// Adds the unigrams and bigrams (joined by a space) of `w` to the counts.
void add_ngrams(const std::vector<std::string>& w, Counts& unigrams, Counts& bigrams);

// Bins `counts` over `bins` (feature names): features outside them go to kOtherBin.
// Returns probabilities in the order of `bins` followed by the other bin.
std::vector<double> binned(const Counts& counts, const std::vector<std::string>& bins);
// The `k` most frequent features of `ref` (ties by name, so the choice is deterministic).
std::vector<std::string> top_features(const Counts& ref, size_t k);

// PSI = sum (q - p) * ln(q / p) over bins, with probabilities floored at `epsilon`.
// 0 for identical distributions; > 0.2 is the conventional "significant shift".
double psi(const std::vector<double>& p, const std::vector<double>& q, double epsilon = 1e-4);
// Jensen-Shannon divergence in bits (base 2): 0 identical, 1 disjoint supports.
double js_divergence(const std::vector<double>& p, const std::vector<double>& q);

struct Divergence {
  double psi = 0;
  double js = 0;
  double other_share = 0;  // share of the current mass outside the reference's top-k
};
// Both measures over the reference's top-k features plus the other bin; k shrinks (not below 10)
// so that the current counts average at least 20 per bin.
Divergence compare(const Counts& ref, const Counts& cur, size_t top_k);

// Linear-interpolated percentile (p in [0, 100]); 0 for an empty vector.
double percentile(std::vector<double> values, double p);

}  // namespace llmops::monitor
