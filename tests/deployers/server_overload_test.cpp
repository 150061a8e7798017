// The server under more than it serves at once, in process on a fake backend: generation
// requests over --max-concurrency wait in a bounded queue (429 with Retry-After only when it is
// full, 503 with Retry-After past the wait), and connections that never finish a request (idle,
// partial header, partial body: slowloris) are closed on deadlines and never lock out a client
// that sends its request.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <future>
#include <sstream>

#include "deployer_test_util.hpp"
#include "plugins/common/http_client.hpp"

using namespace llmops::serve;
using namespace llmops::common;
using namespace dtest;

namespace {

BackendLoader fake_loader(std::shared_ptr<FakeBackend> backend) {
  return [backend](const LoadRequest&) -> llmops::Result<std::shared_ptr<Backend>> {
    return std::shared_ptr<Backend>(backend);
  };
}

ServerOptions options() {
  ServerOptions o;
  o.name = "fake";
  return o;
}

// The value of one series in a /metrics body (the whole name with labels), or -1.
double metric(const std::string& body, const std::string& series) {
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  return -1;
}

double scrape(uint16_t port, const std::string& series) {
  auto r = http_request("127.0.0.1", port, "GET", "/metrics");
  return r && r->status == 200 ? metric(r->body, series) : -1;
}

// A raw loopback connection, for clients that misbehave. Closed at scope exit.
struct RawConnection {
  int fd = -1;
  explicit RawConnection(uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("connect failed");
  }
  RawConnection(RawConnection&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  ~RawConnection() {
    if (fd >= 0) ::close(fd);
  }
  bool send(const std::string& s) const {
    return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }
  // Without blocking: reads what the server sent; true once it has closed the connection.
  bool closed(std::string* received = nullptr) const {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        if (received) received->append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) return true;
      return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    }
  }
  // Waits up to `seconds` for the server to close; `trickle`, when set, is sent every 50 ms
  // meanwhile (a slowloris client feeding its request a byte at a time).
  bool wait_closed(double seconds, std::string* received, const std::string& trickle = "") const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      if (closed(received)) return true;
      if (!trickle.empty()) send(trickle);
      pollfd p{fd, POLLIN, 0};
      ::poll(&p, 1, 50);
    }
    return closed(received);
  }
};

const std::string kPartialHeader =
    "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";

}  // namespace

TEST_CASE("generation requests over --max-concurrency wait their turn: 40 clients, 2 slots",
          "[deployers][server][queue]") {
  auto backend = std::make_shared<FakeBackend>("ok", /*gate=*/true);
  auto o = options();
  o.max_concurrency = 2;  // the queue keeps its default size
  InProcessServer s(o, fake_loader(backend));
  std::vector<std::future<int>> clients;
  for (int i = 0; i < 40; ++i)
    clients.push_back(std::async(std::launch::async, [&, i] {
      auto r = http_request("127.0.0.1", s.port(), "POST", "/v1/chat/completions",
                            chat_body("fake", "client " + std::to_string(i)));
      return r ? r->status : -1;
    }));
  // Two generate; the other 38 wait in the queue rather than being turned away.
  REQUIRE(wait_until([&] {
    return backend->waiting() == 2 && scrape(s.port(), "llmops_queue_depth{model=\"fake\"}") == 38;
  }));
  CHECK(scrape(s.port(), "llmops_generating{model=\"fake\"}") == 2);
  CHECK(scrape(s.port(), "llmops_max_concurrency{model=\"fake\"}") == 2);
  backend->release();
  int ok = 0;
  for (auto& c : clients) ok += c.get() == 200;
  CHECK(ok == 40);
  auto m = http_request("127.0.0.1", s.port(), "GET", "/metrics")->body;
  CHECK(metric(m, "llmops_queue_wait_seconds_count{model=\"fake\"}") == 40);
  CHECK(metric(m, "llmops_queue_depth{model=\"fake\"}") == 0);
  CHECK(metric(m, "llmops_queue_rejected_total{model=\"fake\",reason=\"queue_full\"}") == 0);
  CHECK(m.find("status=\"429\"") == std::string::npos);
}

TEST_CASE("a full queue answers 429 with Retry-After, a wait past the timeout 503",
          "[deployers][server][queue]") {
  auto backend = std::make_shared<FakeBackend>("ok", /*gate=*/true);
  auto o = options();
  o.max_concurrency = 1;
  o.max_queue = 2;
  InProcessServer s(o, fake_loader(backend));
  auto send = [&] {
    return std::async(std::launch::async, [&] {
      auto r = http_request("127.0.0.1", s.port(), "POST", "/v1/completions",
                            R"({"model":"fake","prompt":"x"})");
      return r ? r->status : -1;
    });
  };
  auto running = send();
  REQUIRE(wait_until([&] { return backend->waiting() == 1; }));
  auto queued1 = send(), queued2 = send();
  REQUIRE(wait_until([&] { return scrape(s.port(), "llmops_queue_depth{model=\"fake\"}") == 2; }));
  HttpClient c("127.0.0.1", s.port());
  for (int i = 0; i < 3; ++i) {
    auto r = c.request("POST", "/v1/chat/completions", chat_body("fake", "overflow"));
    REQUIRE(r);
    CHECK(r->status == 429);
    CHECK(json::parse(r->body)["error"]["code"] == "rate_limit_exceeded");
    CHECK(std::stoi(r->header("Retry-After")) >= 1);
  }
  CHECK(scrape(s.port(), "llmops_queue_rejected_total{model=\"fake\",reason=\"queue_full\"}") == 3);
  backend->release();
  CHECK(running.get() == 200);
  CHECK(queued1.get() == 200);
  CHECK(queued2.get() == 200);

  // A wait past --queue-timeout: 503, also with Retry-After.
  auto gate = std::make_shared<FakeBackend>("ok", /*gate=*/true);
  o.queue_timeout_s = 0.2;
  InProcessServer t(o, fake_loader(gate));
  auto held = std::async(std::launch::async, [&] {
    return http_request("127.0.0.1", t.port(), "POST", "/v1/chat/completions",
                        chat_body("fake", "x"));
  });
  REQUIRE(wait_until([&] { return gate->waiting() == 1; }));
  auto r =
      http_request("127.0.0.1", t.port(), "POST", "/v1/chat/completions", chat_body("fake", "y"));
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(json::parse(r->body)["error"]["code"] == "queue_timeout");
  CHECK(std::stoi(r->header("Retry-After")) >= 1);
  CHECK(scrape(t.port(), "llmops_queue_rejected_total{model=\"fake\",reason=\"queue_timeout\"}") ==
        1);
  gate->release();
  CHECK(held.get()->status == 200);
}

TEST_CASE("hundreds of half-sent requests from one address do not lock out a real request",
          "[deployers][server][slowloris]") {
  // Default limits: 64 connections without a request per client address.
  InProcessServer s(options(), fake_loader(std::make_shared<FakeBackend>("ok")));
  std::vector<RawConnection> partial;
  for (int i = 0; i < 300; ++i) {
    partial.emplace_back(s.port());
    REQUIRE(partial.back().send(kPartialHeader));
  }
  auto r = http_request("127.0.0.1", s.port(), "POST", "/v1/chat/completions",
                        chat_body("fake", "x"), {}, 10);
  REQUIRE(r);
  CHECK(r->status == 200);
  // The oldest of them were closed to keep the address at its limit.
  REQUIRE(wait_until([&] {
    int closed = 0;
    for (const auto& p : partial) closed += p.closed();
    return closed >= 300 - 64;
  }));
  CHECK(scrape(s.port(), "llmops_connections{model=\"fake\",state=\"pending\"}") <= 64);
  CHECK(scrape(s.port(), "llmops_connections_closed_total{model=\"fake\",reason=\"evicted\"}") >=
        300 - 64);
}

TEST_CASE("requests are served while hundreds of idle and partial connections are held",
          "[deployers][server][slowloris]") {
  auto o = options();
  o.max_pending_per_client = 0;  // no per-address limit: every connection stays open
  o.header_timeout_s = 600;      // and none times out during the test
  InProcessServer s(o, fake_loader(std::make_shared<FakeBackend>("ok")));
  std::vector<RawConnection> held;
  for (int i = 0; i < 300; ++i) {
    held.emplace_back(s.port());
    if (i % 2) REQUIRE(held.back().send(kPartialHeader));  // the others send nothing at all
  }
  REQUIRE(wait_until([&] {
    return scrape(s.port(), "llmops_connections{model=\"fake\",state=\"pending\"}") == 300;
  }));
  HttpClient c("127.0.0.1", s.port(), 10);
  for (int i = 0; i < 5; ++i)
    CHECK(c.request("POST", "/v1/chat/completions", chat_body("fake", "x"))->status == 200);
  for (const auto& h : held) CHECK_FALSE(h.closed());
}

TEST_CASE("at --max-connections a new connection closes the oldest one without a request",
          "[deployers][server][slowloris]") {
  auto o = options();
  o.max_connections = 50;
  o.max_pending_per_client = 0;
  InProcessServer s(o, fake_loader(std::make_shared<FakeBackend>("ok")));
  std::vector<RawConnection> partial;
  for (int i = 0; i < 200; ++i) {
    partial.emplace_back(s.port());
    REQUIRE(partial.back().send(kPartialHeader));
  }
  auto r = http_request("127.0.0.1", s.port(), "POST", "/v1/chat/completions",
                        chat_body("fake", "x"), {}, 10);
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(wait_until([&] {
    int closed = 0;
    for (const auto& p : partial) closed += p.closed();
    return closed >= 200 - 50;
  }));
  CHECK_FALSE(partial.back().closed());  // the newest stay
}

TEST_CASE("a header, a body and an idle keep-alive each have a deadline, trickle or not",
          "[deployers][server][slowloris]") {
  auto o = options();
  o.header_timeout_s = 0.3;
  o.body_timeout_s = 0.3;
  o.idle_timeout_s = 0.3;
  InProcessServer s(o, fake_loader(std::make_shared<FakeBackend>("ok")));
  const double bound = 20;  // far above the deadlines; only a server that never closes fails

  // A header that never ends, fed a few bytes every 50 ms: 408, then closed.
  {
    RawConnection c(s.port());
    REQUIRE(c.send(kPartialHeader));
    std::string got;
    CHECK(c.wait_closed(bound, &got, "X-Slow: 1\r\n"));
    CHECK(got.rfind("HTTP/1.1 408", 0) == 0);
  }
  // A connection that sends nothing: closed.
  {
    RawConnection c(s.port());
    std::string got;
    CHECK(c.wait_closed(bound, &got));
    CHECK(got.empty());
  }
  // A body that never ends, trickled: 408, then closed.
  {
    RawConnection c(s.port());
    REQUIRE(c.send(
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{\"model\""));
    std::string got;
    CHECK(c.wait_closed(bound, &got, " "));
    CHECK(got.rfind("HTTP/1.1 408", 0) == 0);
  }
  // A kept-alive connection after its request: closed once idle.
  {
    RawConnection c(s.port());
    REQUIRE(c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string got;
    CHECK(c.wait_closed(bound, &got));
    CHECK(got.rfind("HTTP/1.1 200", 0) == 0);
  }
  const auto m = http_request("127.0.0.1", s.port(), "GET", "/metrics")->body;
  CHECK(metric(m, "llmops_connections_closed_total{model=\"fake\",reason=\"header_timeout\"}") >=
        2);
  CHECK(metric(m, "llmops_connections_closed_total{model=\"fake\",reason=\"body_timeout\"}") == 1);
  CHECK(metric(m, "llmops_connections_closed_total{model=\"fake\",reason=\"idle_timeout\"}") >= 1);
  // Clients that send their request are unaffected.
  HttpClient c("127.0.0.1", s.port());
  CHECK(c.request("POST", "/v1/chat/completions", chat_body("fake", "x"))->status == 200);
}
