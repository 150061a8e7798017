// Metrics of the model server in the Prometheus text format (GET /metrics): requests by status,
// prompt and generated token totals, time-to-first-token and end-to-end latency histograms and
// requests in flight, each labelled with the model version that served them.
// Thread safety: every method may be called from any thread (one mutex; the counts are tiny).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>

namespace llmops::serve {

class Metrics {
 public:
  static constexpr std::array<double, 14> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                      1,     2.5,  5,     10,   30,  60,   120};

  void request(const std::string& version, const std::string& route, int status);
  void tokens(const std::string& version, int64_t prompt, int64_t generated);
  void ttft(const std::string& version, double seconds);
  void latency(const std::string& version, double seconds);
  void in_flight(const std::string& version, int delta);

  // `versions` are the loaded versions with their traffic share, exported as llmops_model_info.
  std::string render(const std::string& model_name,
                     const std::map<std::string, int>& versions) const;

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
};

}  // namespace llmops::serve
