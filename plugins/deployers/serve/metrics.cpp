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

std::string Metrics::route_label(std::string_view target) {
  for (const auto r : kRoutes)
    if (target == r) return std::string(r);
  return "other";
}

void Metrics::request(const std::string& version, const std::string& route, int status) {
  // Only statuses the server can answer (and 499, a client gone): never a client's free choice.
  if (status < 100 || status > 599) status = 0;
  std::lock_guard lock(mu_);
  ++requests_[{version, route_label(route), status}];
}
void Metrics::queue_wait(double seconds) {
  std::lock_guard lock(mu_);
  queue_wait_.observe(seconds);
}
void Metrics::rejected(Rejected why) {
  std::lock_guard lock(mu_);
  ++rejected_[static_cast<size_t>(why)];
}
void Metrics::closed(Closed why) {
  std::lock_guard lock(mu_);
  ++closed_[static_cast<size_t>(why)];
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
                            const std::map<std::string, int>& versions, const Load& load) const {
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

  auto buckets = [&](const char* name, const std::string& labels, const Histogram& h) {
    for (size_t i = 0; i < kBuckets.size(); ++i)
      o << name << "_bucket{" << labels << ",le=\"" << num(kBuckets[i]) << "\"} " << h.counts[i]
        << "\n";
    o << name << "_bucket{" << labels << ",le=\"+Inf\"} " << h.count << "\n";
    o << name << "_sum{" << labels << "} " << num(h.sum) << "\n";
    o << name << "_count{" << labels << "} " << h.count << "\n";
  };
  auto histogram = [&](const char* name, const char* help,
                       const std::map<std::string, Histogram>& hs) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " histogram\n";
    for (const auto& [v, h] : hs) buckets(name, lbl(v), h);
  };
  auto gauge = [&](const char* name, const char* help, int value) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n"
      << name << "{" << model << "} " << value << "\n";
  };
  histogram("llmops_time_to_first_token_seconds", "Time from request to first generated token.",
            ttft_);
  histogram("llmops_request_duration_seconds", "End-to-end latency of generation requests.",
            latency_);

  gauge("llmops_generating", "Generation requests holding a slot now.", load.generating);
  gauge("llmops_max_concurrency", "Generation slots (--max-concurrency).", load.max_concurrency);
  gauge("llmops_queue_depth", "Generation requests waiting for a slot now.", load.queued);
  gauge("llmops_queue_capacity", "Requests that may wait (--max-queue).", load.max_queue);
  o << "# HELP llmops_queue_wait_seconds Time generation requests waited for a slot.\n"
    << "# TYPE llmops_queue_wait_seconds histogram\n";
  buckets("llmops_queue_wait_seconds", model, queue_wait_);
  o << "# HELP llmops_queue_rejected_total Generation requests turned away: queue full (429) or "
       "waited past --queue-timeout (503).\n"
    << "# TYPE llmops_queue_rejected_total counter\n";
  static constexpr const char* kRejected[] = {"queue_full", "queue_timeout"};
  for (size_t i = 0; i < rejected_.size(); ++i)
    o << "llmops_queue_rejected_total{" << model << ",reason=\"" << kRejected[i] << "\"} "
      << rejected_[i] << "\n";
  o << "# HELP llmops_connections Open connections: pending (no complete request yet: new, "
       "partial or idle keep-alive) and active (a request in progress).\n"
    << "# TYPE llmops_connections gauge\n"
    << "llmops_connections{" << model << ",state=\"pending\"} " << load.connections_pending << "\n"
    << "llmops_connections{" << model << ",state=\"active\"} " << load.connections_active << "\n";
  o << "# HELP llmops_connections_closed_total Connections the server closed without a request "
       "in progress, by reason.\n"
    << "# TYPE llmops_connections_closed_total counter\n";
  static constexpr const char* kClosed[kClosedReasons] = {"header_timeout", "body_timeout",
                                                          "idle_timeout", "evicted", "refused"};
  for (size_t i = 0; i < kClosedReasons; ++i)
    o << "llmops_connections_closed_total{" << model << ",reason=\"" << kClosed[i] << "\"} "
      << closed_[i] << "\n";
  return o.str();
}

}  // namespace llmops::serve
