// Prometheus text exposition of the server's metrics; see metrics.hpp.
#include "metrics.hpp"

#include <sstream>
#include <tuple>

namespace llmops::serve {
namespace {

// Label values escape backslash, quote and newline (the exposition format's rule).
std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string num(double v) {
  std::ostringstream o;
  o << v;  // %g: bucket bounds print as written (0.005, not 0.0050000000000000001)
  return o.str();
}

}  // namespace

void Metrics::Histogram::observe(double v) {
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (v <= kBuckets[i]) ++counts[i];
  ++count;
  sum += v;
}

void Metrics::request(const std::string& version, const std::string& route, int status) {
  std::lock_guard lock(mu_);
  ++requests_[{version, route, status}];
}
void Metrics::tokens(const std::string& version, int64_t prompt, int64_t generated) {
  std::lock_guard lock(mu_);
  auto& t = tokens_[version];
  t.first += prompt;
  t.second += generated;
}
void Metrics::ttft(const std::string& version, double seconds) {
  std::lock_guard lock(mu_);
  ttft_[version].observe(seconds);
}
void Metrics::latency(const std::string& version, double seconds) {
  std::lock_guard lock(mu_);
  latency_[version].observe(seconds);
}
void Metrics::in_flight(const std::string& version, int delta) {
  std::lock_guard lock(mu_);
  in_flight_[version] += delta;
}

std::string Metrics::render(const std::string& model_name,
                            const std::map<std::string, int>& versions) const {
  std::lock_guard lock(mu_);
  std::ostringstream o;
  const std::string model = "model=\"" + esc(model_name) + "\"";
  auto lbl = [&](const std::string& v) { return model + ",version=\"" + esc(v) + "\""; };

  o << "# HELP llmops_model_info Loaded model versions and their share of traffic (percent).\n"
    << "# TYPE llmops_model_info gauge\n";
  for (const auto& [v, share] : versions)
    o << "llmops_model_info{" << lbl(v) << "} " << share << "\n";

  o << "# HELP llmops_requests_total HTTP requests by route and status.\n"
    << "# TYPE llmops_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    const auto& [v, route, status] = key;
    o << "llmops_requests_total{" << lbl(v) << ",route=\"" << esc(route) << "\",status=\"" << status
      << "\"} " << n << "\n";
  }
  o << "# HELP llmops_prompt_tokens_total Prompt tokens processed.\n"
    << "# TYPE llmops_prompt_tokens_total counter\n";
  for (const auto& [v, t] : tokens_)
    o << "llmops_prompt_tokens_total{" << lbl(v) << "} " << t.first << "\n";
  o << "# HELP llmops_generated_tokens_total Tokens generated.\n"
    << "# TYPE llmops_generated_tokens_total counter\n";
  for (const auto& [v, t] : tokens_)
    o << "llmops_generated_tokens_total{" << lbl(v) << "} " << t.second << "\n";
  o << "# HELP llmops_requests_in_flight Generation requests being served now.\n"
    << "# TYPE llmops_requests_in_flight gauge\n";
  for (const auto& [v, n] : in_flight_)
    o << "llmops_requests_in_flight{" << lbl(v) << "} " << n << "\n";

  auto histogram = [&](const char* name, const char* help,
                       const std::map<std::string, Histogram>& hs) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " histogram\n";
    for (const auto& [v, h] : hs) {
      for (size_t i = 0; i < kBuckets.size(); ++i)
        o << name << "_bucket{" << lbl(v) << ",le=\"" << num(kBuckets[i]) << "\"} " << h.counts[i]
          << "\n";
      o << name << "_bucket{" << lbl(v) << ",le=\"+Inf\"} " << h.count << "\n";
      o << name << "_sum{" << lbl(v) << "} " << num(h.sum) << "\n";
      o << name << "_count{" << lbl(v) << "} " << h.count << "\n";
    }
  };
  histogram("llmops_time_to_first_token_seconds", "Time from request to first generated token.",
            ttft_);
  histogram("llmops_request_duration_seconds", "End-to-end latency of generation requests.",
            latency_);
  return o.str();
}

}  // namespace llmops::serve
