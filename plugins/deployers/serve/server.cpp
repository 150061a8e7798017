// The server's connections, routing, auth, admin routes and version switching; see server.hpp.
// The completion routes are in server_generate.cpp.
#include <openssl/crypto.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <random>
#include <thread>

#include "server_impl.hpp"

namespace llmops::serve {

namespace beast = boost::beast;
using nlohmann::json;

std::string random_id(const std::string& prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string s = prefix;
  for (int i = 0; i < 24; ++i) s += kHex[rng() % 16];
  return s;
}

int64_t unix_time() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- Exchange ----------------------------------------------------------------------------------

void Exchange::send(int status, const std::string& body, const std::string& content_type,
                    const std::vector<std::pair<std::string, std::string>>& headers) {
  status_ = status;
  http::response<http::string_body> res{static_cast<http::status>(status), request_.version()};
  res.set(http::field::server, "llmops-serve");
  res.set(http::field::content_type, content_type);
  for (const auto& [k, v] : headers) res.set(k, v);
  res.keep_alive(request_.keep_alive());
  res.body() = body;
  res.prepare_payload();
  boost::system::error_code ec;
  http::write(socket_, res, ec);
  if (ec) failed_ = true;
}

bool Exchange::start_stream(const std::vector<std::pair<std::string, std::string>>& headers) {
  status_ = 200;
  streamed_ = true;
  http::response<http::empty_body> res{http::status::ok, request_.version()};
  res.set(http::field::server, "llmops-serve");
  res.set(http::field::content_type, "text/event-stream");
  res.set(http::field::cache_control, "no-cache");
  for (const auto& [k, v] : headers) res.set(k, v);
  res.keep_alive(false);
  res.chunked(true);
  http::response_serializer<http::empty_body> sr{res};
  boost::system::error_code ec;
  http::write_header(socket_, sr, ec);
  if (ec) failed_ = true;
  return !failed_;
}

bool Exchange::event(const std::string& data) {
  if (failed_) return false;
  const std::string chunk = "data: " + data + "\n\n";
  boost::system::error_code ec;
  net::write(socket_, http::make_chunk(net::buffer(chunk)), ec);
  if (ec) failed_ = true;
  return !failed_;
}

void Exchange::end_stream() {
  if (!event("[DONE]")) return;
  boost::system::error_code ec;
  net::write(socket_, http::make_chunk_last(), ec);
  if (ec) failed_ = true;
}

// ---- versions ----------------------------------------------------------------------------------

std::shared_ptr<Version> Server::Impl::pick() {
  std::lock_guard lock(versions_mu);
  if (canary && canary_percent > 0) {
    // Bresenham-style spread: request n goes to the canary when floor(n*p/100) steps up.
    const uint64_t n = picks.fetch_add(1);
    if ((n + 1) * canary_percent / 100 != n * canary_percent / 100) return canary;
  }
  return stable;
}

std::string Server::Impl::label() const {
  std::lock_guard lock(versions_mu);
  return stable ? stable->name : "none";
}

std::map<std::string, int> Server::Impl::shares() const {
  std::lock_guard lock(versions_mu);
  std::map<std::string, int> out;
  if (stable) out[stable->name] = canary ? 100 - canary_percent : 100;
  if (canary) out[canary->name] = canary_percent;
  return out;
}

// ---- connections -------------------------------------------------------------------------------

void Server::Impl::serve_connection(tcp::socket socket) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(opt.idle_timeout_s);
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  tv.tv_sec = static_cast<time_t>(std::max(opt.timeout_s, opt.idle_timeout_s));
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  beast::flat_buffer buffer;
  boost::system::error_code ec;
  while (!stopping) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(static_cast<uint64_t>(opt.max_body_bytes));
    parser.header_limit(64 * 1024);
    http::read(socket, buffer, parser, ec);
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
      const bool body = ec == http::error::body_limit;
      http::request<http::string_body> dummy;
      dummy.version(11);
      dummy.keep_alive(false);
      Exchange ex(socket, dummy);
      ApiError e{body ? 413 : 431,
                 body ? "The request body is larger than this server's limit of " +
                            std::to_string(opt.max_body_bytes) + " bytes."
                      : "The request headers are too large.",
                 "invalid_request_error", "", body ? "request_too_large" : "headers_too_large"};
      // Counted before the answer goes out: a client that hangs up mid-write must still count.
      metrics.request(label(), "other", e.status);
      try {
        ex.send_error(e);
      } catch (const std::exception&) {
        break;
      }
      // Read what the client is still sending so that closing does not reset the connection
      // before it has read the answer.
      socket.shutdown(tcp::socket::shutdown_send, ec);
      char sink[65536];
      for (int64_t drained = 0; drained < (int64_t{256} << 20);) {
        const auto n = socket.read_some(net::buffer(sink), ec);
        if (ec) break;
        drained += static_cast<int64_t>(n);
      }
      break;
    }
    if (ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::connection_reset || ec == net::error::would_block ||
        ec == net::error::try_again || ec == net::error::timed_out)
      break;
    if (ec) {
      // Malformed HTTP: answer 400 and hang up (the stream cannot be trusted after this).
      http::request<http::string_body> dummy;
      dummy.version(11);
      dummy.keep_alive(false);
      Exchange ex(socket, dummy);
      metrics.request(label(), "other", 400);
      try {
        ex.send_error(ApiError{400, "Malformed HTTP request: " + ec.message()});
      } catch (const std::exception&) {
      }
      break;
    }
    auto req = parser.release();
    Exchange ex(socket, req);
    try {
      handle(ex);
    } catch (const std::exception& e) {
      if (!ex.status())
        ex.send_error(ApiError{500, std::string("internal error: ") + e.what(), "server_error"});
    }
    if (!ex.keep_alive()) break;
  }
  socket.shutdown(tcp::socket::shutdown_both, ec);
  std::lock_guard lock(conn_mu);
  fds.erase(socket.native_handle());
  socket.close(ec);
}

void Server::Impl::handle(Exchange& ex) {
  const auto& req = ex.request();
  std::string target(req.target());
  if (auto q = target.find('?'); q != std::string::npos) target.resize(q);
  const auto method = req.method();

  if (target == "/health") {
    const bool ok = label() != "none";
    ex.send(
        ok ? 200 : 503,
        json{{"status", ok ? "ok" : "loading"}, {"model", opt.name}, {"version", label()}}.dump());
    return;
  }
  if (!opt.token.empty()) {
    const std::string expected = "Bearer " + opt.token;
    const auto got = std::string(req[http::field::authorization]);
    // Constant time, so the token cannot be guessed byte by byte from response times.
    if (got.size() != expected.size() ||
        CRYPTO_memcmp(got.data(), expected.data(), got.size()) != 0) {
      ex.send_error(ApiError{401, "Missing or invalid bearer token in the Authorization header.",
                             "invalid_request_error", "", "invalid_api_key"});
      metrics.request(label(), target, 401);
      return;
    }
  }
  auto is = [&](const char* path, http::verb verb) {
    if (target != path) return false;
    if (method != verb) {
      ex.send_error(ApiError{
          405, std::string("Use ") + std::string(http::to_string(verb)) + " for " + path + ".",
          "invalid_request_error", "", "method_not_allowed"});
      metrics.request(label(), target, 405);
      return false;
    }
    return true;
  };
  if (target == "/v1/chat/completions" || target == "/v1/completions") {
    if (is(target.c_str(), http::verb::post))
      handle_generation(ex, target == "/v1/chat/completions");
    return;
  }
  if (target == "/v1/models") {
    if (!is("/v1/models", http::verb::get)) return;
    // One model id; its versions and their traffic shares are in /admin/status.
    json data = json::array({{{"id", opt.name},
                              {"object", "model"},
                              {"created", unix_time()},
                              {"owned_by", "llmops"},
                              {"version", label()}}});
    ex.send(200, json{{"object", "list"}, {"data", data}}.dump());
    metrics.request(label(), target, 200);
    return;
  }
  if (target == "/metrics") {
    if (!is("/metrics", http::verb::get)) return;
    ex.send(200, metrics.render(opt.name, shares()), "text/plain; version=0.0.4; charset=utf-8");
    return;
  }
  if (target == "/v1/feedback") {
    if (!is("/v1/feedback", http::verb::post)) return;
    auto parsed = parse_feedback_request(req.body());
    if (parsed.error) {
      ex.send_error(*parsed.error);
    } else {
      json record = {{"type", "feedback"},
                     {"time", unix_time()},
                     {"id", parsed.feedback.id},
                     {"version", label()},
                     {"feedback", json::parse(parsed.feedback.json, nullptr, false)}};
      log.append(std::move(record));
      ex.send(200, json{{"status", "recorded"}, {"id", parsed.feedback.id}}.dump());
    }
    metrics.request(label(), target, ex.status());
    return;
  }
  if (target == "/admin/load") {
    if (is("/admin/load", http::verb::post)) handle_admin_load(ex);
    return;
  }
  if (target == "/admin/promote") {
    if (!is("/admin/promote", http::verb::post)) return;
    std::lock_guard lock(versions_mu);
    if (!canary) {
      ex.send_error(ApiError{409, "There is no canary to promote.", "invalid_request_error", "",
                             "no_canary"});
      return;
    }
    stable = std::move(canary);
    canary.reset();
    canary_percent = 0;
    ex.send(200, json{{"status", "promoted"}, {"version", stable->name}}.dump());
    return;
  }
  if (target == "/admin/status") {
    if (!is("/admin/status", http::verb::get)) return;
    json versions = json::array();
    {
      std::lock_guard lock(versions_mu);
      for (const auto* v : {&stable, &canary})
        if (*v)
          versions.push_back({{"version", (*v)->name},
                              {"model_dir", (*v)->spec.model_dir},
                              {"role", v == &stable ? "stable" : "canary"},
                              {"decoder", (*v)->backend->status()}});
    }
    ex.send(200, json{{"model", opt.name},
                      {"versions", versions},
                      {"shares", shares()},
                      {"generating", generating.load()}}
                     .dump());
    return;
  }
  ex.send_error(
      ApiError{404, "Unknown route " + target, "invalid_request_error", "", "unknown_url"});
  metrics.request(label(), "other", 404);
}

void Server::Impl::handle_admin_load(Exchange& ex) {
  auto parsed = parse_load_request(ex.request().body());
  if (parsed.error) {
    ex.send_error(*parsed.error);
    return;
  }
  const auto t0 = Clock::now();
  const Status s = install(parsed.load);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  log.append({{"type", "admin"},
              {"time", unix_time()},
              {"action", "load"},
              {"version", parsed.load.version},
              {"model_dir", parsed.load.model_dir},
              {"canary_percent", parsed.load.canary_percent},
              {"ok", s.is_ok()},
              {"error", s.message()}});
  if (!s) {
    ex.send_error(ApiError{s.code() == StatusCode::kInternal ? 500 : 400,
                           "Loading " + parsed.load.model_dir + " failed: " + s.message(),
                           "invalid_request_error", "model_dir", "load_failed"});
    return;
  }
  ex.send(200, json{{"status", "loaded"},
                    {"version", parsed.load.version},
                    {"shares", shares()},
                    {"load_seconds", secs}}
                   .dump());
}

// ---- Server ------------------------------------------------------------------------------------

Server::Server(ServerOptions options, BackendLoader loader)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(loader))) {}

Server::~Server() {
  stop();
}

Status Server::listen() {
  if (auto s = impl_->log.open(); !s) return s;
  boost::system::error_code ec;
  auto addr = net::ip::make_address(impl_->opt.host, ec);
  if (ec) return Status::invalid("bad --host " + impl_->opt.host + ": " + ec.message());
  tcp::endpoint ep{addr, impl_->opt.port};
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return Status(StatusCode::kUnavailable, "cannot listen on " + impl_->opt.host + ":" +
                                                std::to_string(impl_->opt.port) + ": " +
                                                ec.message());
  return Status::ok();
}

uint16_t Server::port() const {
  boost::system::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

void Server::run() {
  auto& im = *impl_;
  while (!im.stopping) {
    boost::system::error_code ec;
    tcp::socket socket(im.ioc);
    im.acceptor.accept(socket, ec);
    if (ec) {
      if (im.stopping || !im.acceptor.is_open()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // EMFILE and the like
      continue;
    }
    {
      std::unique_lock lock(im.conn_mu);
      if (im.connections >= im.opt.max_connections) {
        lock.unlock();
        http::request<http::string_body> dummy;
        dummy.version(11);
        dummy.keep_alive(false);
        Exchange ex(socket, dummy);
        ex.send_error(
            ApiError{503, "Too many open connections.", "server_error", "", "overloaded"});
        continue;
      }
      ++im.connections;
      im.fds.insert(socket.native_handle());
    }
    std::thread([&im, s = std::move(socket)]() mutable {
      im.serve_connection(std::move(s));
      std::lock_guard lock(im.conn_mu);
      --im.connections;
      im.conn_cv.notify_all();
    }).detach();
  }
}

void Server::stop() {
  auto& im = *impl_;
  if (im.stopping.exchange(true)) return;
  boost::system::error_code ec;
  // shutdown() wakes a thread blocked in accept(); close() alone does not on Linux.
  ::shutdown(im.acceptor.native_handle(), SHUT_RDWR);
  std::unique_lock lock(im.conn_mu);
  // Idle keep-alive connections wake up with end-of-stream; in-flight responses still go out.
  for (int fd : im.fds) ::shutdown(fd, SHUT_RD);
  im.conn_cv.wait_for(lock, std::chrono::seconds(30), [&] { return im.connections == 0; });
}

Status Server::load(const LoadRequest& request) {
  return impl_->install(request);
}

Status Server::Impl::install(const LoadRequest& request) {
  std::lock_guard lock(load_mu);
  auto backend = loader(request);
  if (!backend) return backend.status();
  auto v = std::make_shared<Version>(Version{request.version, *backend, request});
  std::lock_guard vlock(versions_mu);
  const int p = request.canary_percent;
  if (!stable || p == 0 || p == 100) {
    stable = std::move(v);
    canary.reset();
    canary_percent = 0;
  } else {
    canary = std::move(v);
    canary_percent = p;
  }
  return Status::ok();
}

bool Server::ready() const {
  return impl_->label() != "none";
}
std::string Server::stable_version() const {
  return impl_->label();
}

}  // namespace llmops::serve
