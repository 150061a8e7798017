#include "stats.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace llmops::monitor {

std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  bool digits = true;
  auto flush = [&] {
    if (!cur.empty()) out.push_back(digits ? std::string("<num>") : cur);
    cur.clear();
    digits = true;
  };
  for (const unsigned char ch : text) {
    // Bytes >= 0x80 (UTF-8 sequences) stay inside words.
    if (std::isalnum(ch) || ch == '\'' || ch >= 0x80) {
      if (!std::isdigit(ch)) digits = false;
      cur.push_back(static_cast<char>(std::tolower(ch)));
    } else {
      flush();
    }
  }
  flush();
  return out;
}

void add_ngrams(const std::vector<std::string>& w, Counts& unigrams, Counts& bigrams) {
  for (size_t i = 0; i < w.size(); ++i) {
    unigrams[w[i]] += 1;
    if (i + 1 < w.size()) bigrams[w[i] + " " + w[i + 1]] += 1;
  }
}

std::vector<std::string> top_features(const Counts& ref, size_t k) {
  std::vector<std::pair<std::string, double>> v(ref.begin(), ref.end());
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  std::vector<std::string> out;
  for (size_t i = 0; i < v.size() && i < k; ++i) out.push_back(v[i].first);
  return out;
}

std::vector<double> binned(const Counts& counts, const std::vector<std::string>& bins) {
  std::vector<double> out(bins.size() + 1, 0.0);
  double total = 0, inside = 0;
  for (const auto& [k, v] : counts) total += v;
  for (size_t i = 0; i < bins.size(); ++i) {
    auto it = counts.find(bins[i]);
    if (it != counts.end()) out[i] = it->second, inside += it->second;
  }
  out.back() = total - inside;
  if (total > 0)
    for (auto& x : out) x /= total;
  return out;
}

double psi(const std::vector<double>& p, const std::vector<double>& q, double epsilon) {
  double s = 0;
  for (size_t i = 0; i < p.size() && i < q.size(); ++i) {
    const double a = std::max(p[i], epsilon), b = std::max(q[i], epsilon);
    s += (b - a) * std::log(b / a);
  }
  return s;
}

double js_divergence(const std::vector<double>& p, const std::vector<double>& q) {
  auto kl_half = [](double x, double m) { return x > 0 ? x * std::log2(x / m) : 0.0; };
  double s = 0;
  for (size_t i = 0; i < p.size() && i < q.size(); ++i) {
    const double m = 0.5 * (p[i] + q[i]);
    if (m <= 0) continue;
    s += 0.5 * kl_half(p[i], m) + 0.5 * kl_half(q[i], m);
  }
  return std::max(0.0, s);
}

Divergence compare(const Counts& ref, const Counts& cur, size_t top_k) {
  // PSI's sampling noise grows with bins / observations (about (k - 1) / n for same-distribution
  // samples), so a small window gets fewer bins: at least kPerBin observations per bin on average.
  constexpr double kPerBin = 20;
  double n = 0;
  for (const auto& [k, v] : cur) n += v;
  const auto k =
      std::clamp<size_t>(static_cast<size_t>(n / kPerBin), 10, std::max<size_t>(top_k, 10));
  const auto bins = top_features(ref, std::min(k, top_k));
  const auto p = binned(ref, bins), q = binned(cur, bins);
  return {psi(p, q), js_divergence(p, q), q.back()};
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(rank));
  const auto hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (values[hi] - values[lo]) * (rank - static_cast<double>(lo));
}

}  // namespace llmops::monitor
