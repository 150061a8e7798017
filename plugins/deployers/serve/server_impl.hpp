// Internals shared by server.cpp (routing, admin), server_conn.cpp (connections), server_queue.cpp
// (admission) and server_generate.cpp (the completion routes). Not part of any interface.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <deque>
#include <nlohmann/json.hpp>

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

inline Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// Admission of generation requests: `slots` hold a slot at once, up to `queue` more wait in
// arrival order; release() hands the slot straight to the longest waiter. Thread safe.
class Admission {
 public:
  enum class Outcome { kAdmitted, kQueueFull, kTimedOut, kStopping };
  Admission(int slots, int queue) : slots_(std::max(1, slots)), capacity_(std::max(0, queue)) {}
  Outcome acquire(Clock::time_point deadline);
  // `held_s`: how long the slot was held, for the Retry-After estimate.
  void release(double held_s);
  void stop();  // waiters leave with kStopping; no one waits from now on
  int running() const;
  int queued() const;
  int slots() const { return slots_; }
  int capacity() const { return capacity_; }
  // Whole seconds until a place is likely to free up: the requests ahead of a newcomer times the
  // mean time a slot is held, over the slots; from 1 to 60.
  int retry_after_s() const;

 private:
  struct Waiter {
    std::condition_variable cv;
    bool admitted = false;
  };
  mutable std::mutex mu_;
  const int slots_, capacity_;
  int running_ = 0;
  std::deque<Waiter*> waiters_;
  bool stopping_ = false;
  double mean_held_s_ = 1;  // moving average
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

  Admission admission;

  // Open connections by number, so stop() can wake idle ones and the oldest pending one can be
  // closed to make room. All under conn_mu.
  struct Conn {
    int fd = -1;         // -1 once closed (the entry goes when its thread ends)
    std::string client;  // the peer's address
    Clock::time_point since;
    bool pending = true;  // no complete request yet (new, partial or idle keep-alive)
    bool evicted = false;
  };
  std::mutex conn_mu;
  std::condition_variable conn_cv;
  std::map<uint64_t, Conn> conns;
  uint64_t next_conn = 1;
  std::map<std::string, int> pending_by_client;
  int pending = 0;   // connections pending, evicted ones not counted
  int evicting = 0;  // evicted connections whose thread has not ended yet

  explicit Impl(ServerOptions o, BackendLoader l)
      : opt(std::move(o)),
        loader(std::move(l)),
        log(opt.log),
        admission(opt.max_concurrency, opt.max_queue) {}

  // The version this request runs on: the canary for canary_percent of requests, spread evenly.
  std::shared_ptr<Version> pick();
  std::string label() const;  // the stable version's name, or "none"
  std::map<std::string, int> shares() const;

  Metrics::Load load();
  // Connection bookkeeping (each takes conn_mu).
  // The connection's number, or 0 when every slot has a request in progress.
  uint64_t admit(int fd, const std::string& client);
  void set_pending(uint64_t id, bool pending);
  void forget(uint64_t id);                              // conn_mu held
  bool evict_oldest_pending(const std::string* client);  // conn_mu held

  void serve_connection(tcp::socket socket, Clock::time_point accepted, uint64_t id);
  void handle(Exchange& ex);
  void handle_generation(Exchange& ex, bool chat);
  void handle_feedback(Exchange& ex);
  void handle_admin_load(Exchange& ex);
  void handle_admin_promote(Exchange& ex);
  void handle_admin_status(Exchange& ex);
  Status install(const LoadRequest& request);
};

std::string random_id(const std::string& prefix);
int64_t unix_time();

}  // namespace llmops::serve
