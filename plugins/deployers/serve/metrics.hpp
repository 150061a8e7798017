// Metrics of the model server in the Prometheus text format (GET /metrics): requests by status,
// prompt and generated token totals, time-to-first-token and end-to-end latency histograms and
// requests in flight, each labelled with the model version that served them; the generation
// queue (depth, wait-time histogram, requests turned away) and the connections (open by state,
// closed by the server by reason).
// Every label value comes from a fixed set, whatever clients send: a route is one of kRoutes or
// "other", a status is an HTTP status the server answers, a version one an operator loaded.
// Thread safety: every method may be called from any thread (one mutex; the counts are tiny).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

namespace llmops::serve {

class Metrics {
 public:
  static constexpr std::array<double, 14> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                      1,     2.5,  5,     10,   30,  60,   120};

  // The routes the server answers; anything else is counted as "other".
  static constexpr std::array<std::string_view, 9> kRoutes = {
      "/v1/chat/completions", "/v1/completions", "/v1/models",
      "/v1/feedback",         "/health",         "/metrics",
      "/admin/load",          "/admin/promote",  "/admin/status"};
  static std::string route_label(std::string_view target);

  // Why the server closed a connection that had no request in progress.
  enum class Closed { kHeaderTimeout, kBodyTimeout, kIdleTimeout, kEvicted, kRefused };
  static constexpr size_t kClosedReasons = 5;
  // Why a generation request was turned away by the queue.
  enum class Rejected { kQueueFull, kQueueTimeout };

  // The state of the server at the time of a scrape.
  struct Load {
    int generating = 0, queued = 0, max_concurrency = 0, max_queue = 0;
    int connections_pending = 0, connections_active = 0;
  };

  void request(const std::string& version, const std::string& route, int status);
  void tokens(const std::string& version, int64_t prompt, int64_t generated);
  void ttft(const std::string& version, double seconds);
  void latency(const std::string& version, double seconds);
  void in_flight(const std::string& version, int delta);
  void queue_wait(double seconds);  // from arrival to a generation slot
  void rejected(Rejected why);
  void closed(Closed why);

  // `versions` are the loaded versions with their traffic share, exported as llmops_model_info.
  std::string render(const std::string& model_name, const std::map<std::string, int>& versions,
                     const Load& load) const;

 private:
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> counts{};
    uint64_t count = 0;
    double sum = 0;
    void observe(double v);
  };
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;
  std::map<std::string, std::pair<int64_t, int64_t>> tokens_;
  std::map<std::string, Histogram> ttft_, latency_;
  std::map<std::string, int64_t> in_flight_;
  Histogram queue_wait_;
  std::array<uint64_t, 2> rejected_{};
  std::array<uint64_t, kClosedReasons> closed_{};
};

}  // namespace llmops::serve
