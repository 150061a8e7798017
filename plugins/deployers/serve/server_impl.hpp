// Internals shared by server.cpp (connections, routing, admin) and server_generate.cpp (the
// completion routes). Not part of any interface.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <set>

#include "server.hpp"

namespace llmops::serve {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Version {
  std::string name;
  std::shared_ptr<Backend> backend;
  LoadRequest spec;
};

// One request and the way back to its client.
class Exchange {
 public:
  Exchange(tcp::socket& socket, const http::request<http::string_body>& request)
      : socket_(socket), request_(request) {}

  const http::request<http::string_body>& request() const { return request_; }
  int status() const { return status_; }
  bool streamed() const { return streamed_; }
  bool failed() const { return failed_; }
  bool keep_alive() const { return request_.keep_alive() && !streamed_ && !failed_; }

  void send(int status, const std::string& body,
            const std::string& content_type = "application/json",
            const std::vector<std::pair<std::string, std::string>>& headers = {});
  void send_error(const ApiError& e) { send(e.status, error_body(e)); }
  // Server-sent events: headers once, then one chunk per event, then `data: [DONE]`.
  bool start_stream(const std::vector<std::pair<std::string, std::string>>& headers);
  bool event(const std::string& data);
  void end_stream();

 private:
  tcp::socket& socket_;
  const http::request<http::string_body>& request_;
  int status_ = 0;
  bool streamed_ = false;
  bool failed_ = false;
};

struct Server::Impl {
  ServerOptions opt;
  BackendLoader loader;
  Metrics metrics;
  RequestLog log;
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::atomic<bool> stopping{false};

  mutable std::mutex versions_mu;
  std::shared_ptr<Version> stable, canary;
  int canary_percent = 0;
  std::atomic<uint64_t> picks{0};
  std::mutex load_mu;  // one load at a time

  std::atomic<int> generating{0};
  std::mutex conn_mu;
  std::condition_variable conn_cv;
  int connections = 0;
  std::set<int> fds;  // open connections, so stop() can wake idle ones

  explicit Impl(ServerOptions o, BackendLoader l)
      : opt(std::move(o)), loader(std::move(l)), log(opt.log) {}

  // The version this request runs on: the canary for canary_percent of requests, spread evenly.
  std::shared_ptr<Version> pick();
  std::string label() const;  // the stable version's name, or "none"
  std::map<std::string, int> shares() const;

  void serve_connection(tcp::socket socket);
  void handle(Exchange& ex);
  void handle_generation(Exchange& ex, bool chat);
  void handle_admin_load(Exchange& ex);
  Status install(const LoadRequest& request);
};

std::string random_id(const std::string& prefix);
int64_t unix_time();

}  // namespace llmops::serve
