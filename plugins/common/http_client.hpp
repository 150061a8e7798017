// A small blocking HTTP/1.1 client over Boost.Beast for talking to the model server on loopback:
// the deployer plugin (health, /admin/load), `llmops-deployments`, the drift monitor's replay, the
// tests and the benchmark. Part of plugins_common (plugins/common/CMakeLists.txt).
// One HttpClient keeps one keep-alive connection and reconnects when the server closed it.
// Thread safety: one HttpClient per thread; http_request() is safe anywhere.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "llmops/status.hpp"

namespace llmops::common {

struct HttpResponse {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string header(const std::string& name) const;  // case-insensitive; "" when absent
};

using Headers = std::vector<std::pair<std::string, std::string>>;

class HttpClient {
 public:
  HttpClient(std::string host, uint16_t port, double timeout_s = 60);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  Result<HttpResponse> request(const std::string& method, const std::string& target,
                               const std::string& body = "", const Headers& headers = {});
  // Sends the raw bytes as they are and reads one response (for malformed-request tests).
  Result<HttpResponse> raw(const std::string& bytes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One request on a fresh connection.
Result<HttpResponse> http_request(const std::string& host, uint16_t port, const std::string& method,
                                  const std::string& target, const std::string& body = "",
                                  const Headers& headers = {}, double timeout_s = 60);

// The `data:` payloads of a server-sent-events body, in order (including "[DONE]").
std::vector<std::string> sse_events(const std::string& body);

}  // namespace llmops::common
