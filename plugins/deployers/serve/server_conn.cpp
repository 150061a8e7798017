// The server's listening socket and connections: accept, per-phase read deadlines, pending
// connection limits and eviction (slowloris protection), and shutdown; see server.hpp.
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <boost/beast/core.hpp>
#include <thread>

#include "server_impl.hpp"

namespace llmops::serve {

namespace beast = boost::beast;
using nlohmann::json;

namespace {

// A blocking read with a deadline for a whole phase (a header, a body, an idle wait): every read
// first waits, with poll, for at most what is left. Beast's synchronous reads take it as their
// stream. A socket shut down by stop() or an eviction wakes the wait (it reads as end of stream).
class DeadlineReader {
 public:
  using executor_type = tcp::socket::executor_type;
  explicit DeadlineReader(tcp::socket& socket) : socket_(socket) {}
  executor_type get_executor() { return socket_.get_executor(); }
  void expires_at(Clock::time_point t) { deadline_ = t; }

  // True when there is something to read (or the peer is gone); false with timed_out at the
  // deadline.
  bool wait_readable(boost::system::error_code& ec) {
    for (;;) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
      if (left <= 0) {
        ec = net::error::timed_out;
        return false;
      }
      pollfd p{socket_.native_handle(), POLLIN, 0};
      const int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 60'000)));
      if (r > 0) return true;
      if (r < 0 && errno != EINTR) {
        ec.assign(errno, boost::system::system_category());
        return false;
      }
    }
  }

  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    ec = {};
    if (!wait_readable(ec)) return 0;
    return socket_.read_some(buffers, ec);
  }
  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers) {
    boost::system::error_code ec;
    const size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  tcp::socket& socket_;
  Clock::time_point deadline_ = Clock::time_point::max();
};

// An error answer on a connection whose request could not be read; it closes afterwards.
void send_and_close(tcp::socket& socket, const ApiError& e,
                    const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  http::request<http::string_body> dummy;
  dummy.version(11);
  dummy.keep_alive(false);
  Exchange ex(socket, dummy);
  try {
    ex.send(e.status, error_body(e), "application/json", headers);
  } catch (const std::exception&) {
  }
}

using Parser = http::request_parser<http::string_body>;

// After an answer to a request that was not read whole: stop sending and read what the client
// still sends, so that closing does not reset the connection before it has read the answer.
// Bounded in bytes and in time.
void linger(tcp::socket& socket, DeadlineReader& reader, double secs) {
  boost::system::error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  reader.expires_at(Clock::now() + seconds(secs));
  char sink[65536];
  for (int64_t drained = 0; drained < (int64_t{256} << 20);) {
    const auto n = reader.read_some(net::buffer(sink), ec);
    if (ec) break;
    drained += static_cast<int64_t>(n);
  }
}

// A request's header or body did not arrive by its deadline; the connection closes.
void answer_timeout(Server::Impl& im, tcp::socket& socket, DeadlineReader& reader,
                    const Parser& parser, const beast::flat_buffer& buffer) {
  const bool body = parser.is_header_done();
  im.metrics.closed(body ? Metrics::Closed::kBodyTimeout : Metrics::Closed::kHeaderTimeout);
  // Part of a request arrived: say why the connection closes. Nothing at all: just close.
  if (!body && !parser.got_some() && buffer.size() == 0) return;
  im.metrics.request(im.label(), "other", 408);
  send_and_close(
      socket,
      ApiError{408,
               std::string("The request's ") + (body ? "body" : "header") +
                   " did not arrive within " +
                   json(body ? im.opt.body_timeout_s : im.opt.header_timeout_s).dump() + " s.",
               "invalid_request_error", "", "request_timeout"});
  linger(socket, reader, 1);
}

// A request's body (413) or headers (431) over the limit; the connection closes. A completion
// request turned away this way gets a line in the request log.
void answer_too_large(Server::Impl& im, tcp::socket& socket, DeadlineReader& reader,
                      const Parser& parser, bool body) {
  // The request line is parsed by now when the body is too large (empty when not).
  const auto target = parser.get().target();
  const std::string route = Metrics::route_label(std::string(target.substr(0, target.find('?'))));
  ApiError e{body ? 413 : 431,
             body ? "The request body is larger than this server's limit of " +
                        std::to_string(im.opt.max_body_bytes) + " bytes."
                  : "The request headers are too large.",
             "invalid_request_error", "", body ? "request_too_large" : "headers_too_large"};
  // Counted before the answer goes out: a client that hangs up mid-write must still count.
  im.metrics.request(im.label(), route, e.status);
  if (route == "/v1/chat/completions" || route == "/v1/completions")
    im.log.append(
        {{"type", "completion"},
         {"time", unix_time()},
         {"id", random_id(route == "/v1/completions" ? "cmpl-" : "chatcmpl-")},
         {"route", route},
         {"status", e.status},
         {"version", im.label()},
         {"rejected", true},
         {"code", e.code},
         {"body_bytes", parser.content_length() ? json(*parser.content_length()) : json(nullptr)}});
  send_and_close(socket, e);
  linger(socket, reader, im.opt.body_timeout_s);
}

}  // namespace

Metrics::Load Server::Impl::load() {
  Metrics::Load l;
  l.generating = admission.running();
  l.queued = admission.queued();
  l.max_concurrency = admission.slots();
  l.max_queue = admission.capacity();
  std::lock_guard lock(conn_mu);
  l.connections_pending = pending;
  l.connections_active = static_cast<int>(conns.size()) - pending - evicting;
  return l;
}

bool Server::Impl::evict_oldest_pending(const std::string* client) {
  auto oldest = conns.end();
  for (auto it = conns.begin(); it != conns.end(); ++it) {
    const auto& c = it->second;
    if (!c.pending || c.evicted || c.fd < 0 || (client && c.client != *client)) continue;
    if (oldest == conns.end() || c.since < oldest->second.since) oldest = it;
  }
  if (oldest == conns.end()) return false;
  auto& c = oldest->second;
  c.evicted = true;
  c.pending = false;
  --pending;
  if (--pending_by_client[c.client] <= 0) pending_by_client.erase(c.client);
  ++evicting;
  // Its thread wakes with end of stream and ends; forget() then drops the entry.
  ::shutdown(c.fd, SHUT_RDWR);
  metrics.closed(Metrics::Closed::kEvicted);
  return true;
}

uint64_t Server::Impl::admit(int fd, const std::string& client) {
  std::lock_guard lock(conn_mu);
  if (opt.max_pending_per_client > 0) {
    auto it = pending_by_client.find(client);
    if (it != pending_by_client.end() && it->second >= opt.max_pending_per_client)
      evict_oldest_pending(&client);
  }
  if (static_cast<int>(conns.size()) - evicting >= opt.max_connections &&
      !evict_oldest_pending(nullptr))
    return 0;
  const uint64_t id = next_conn++;
  conns[id] = Conn{fd, client, Clock::now()};
  ++pending;
  ++pending_by_client[client];
  return id;
}

void Server::Impl::set_pending(uint64_t id, bool now_pending) {
  std::lock_guard lock(conn_mu);
  auto it = conns.find(id);
  if (it == conns.end() || it->second.evicted || it->second.pending == now_pending) return;
  auto& c = it->second;
  c.pending = now_pending;
  if (now_pending) {
    c.since = Clock::now();
    ++pending;
    ++pending_by_client[c.client];
  } else {
    --pending;
    if (--pending_by_client[c.client] <= 0) pending_by_client.erase(c.client);
  }
}

void Server::Impl::forget(uint64_t id) {
  auto it = conns.find(id);
  if (it == conns.end()) return;
  auto& c = it->second;
  if (c.evicted) --evicting;
  if (c.pending) {
    --pending;
    if (--pending_by_client[c.client] <= 0) pending_by_client.erase(c.client);
  }
  conns.erase(it);
}

void Server::Impl::serve_connection(tcp::socket socket, Clock::time_point accepted, uint64_t id) {
  const int fd = socket.native_handle();
  // Writes stay bounded by the socket's send timeout (a client that stops reading).
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(std::max({opt.timeout_s, opt.idle_timeout_s, 1.0}));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  DeadlineReader reader(socket);
  beast::flat_buffer buffer;
  boost::system::error_code ec;
  auto header_deadline = accepted + seconds(opt.header_timeout_s);
  for (bool first = true; !stopping; first = false) {
    if (!first) {
      set_pending(id, true);
      // Kept alive: the next request's first byte within the idle timeout, then its header
      // within the header timeout.
      if (buffer.size() == 0) {
        reader.expires_at(Clock::now() + seconds(opt.idle_timeout_s));
        if (!reader.wait_readable(ec)) {
          if (ec == net::error::timed_out) metrics.closed(Metrics::Closed::kIdleTimeout);
          break;
        }
      }
      header_deadline = Clock::now() + seconds(opt.header_timeout_s);
    }
    Parser parser;
    parser.body_limit(static_cast<uint64_t>(opt.max_body_bytes));
    parser.header_limit(64 * 1024);
    reader.expires_at(header_deadline);
    http::read_header(reader, buffer, parser, ec);
    if (!ec) {
      set_pending(id, false);
      if (!parser.is_done()) {
        reader.expires_at(Clock::now() + seconds(opt.body_timeout_s));
        http::read(reader, buffer, parser, ec);
      }
    }
    if (ec == net::error::timed_out) {
      answer_timeout(*this, socket, reader, parser, buffer);
      break;
    }
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
      answer_too_large(*this, socket, reader, parser, ec == http::error::body_limit);
      break;
    }
    if (ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::connection_reset || ec == net::error::would_block ||
        ec == net::error::try_again)
      break;
    if (ec) {
      // Malformed HTTP: answer 400 and hang up (the stream cannot be trusted after this).
      metrics.request(label(), "other", 400);
      send_and_close(socket, ApiError{400, "Malformed HTTP request: " + ec.message()});
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
  // The entry stays until the thread ends (see run()); its descriptor must not be touched once
  // closed, since a new connection may get the same number.
  std::lock_guard lock(conn_mu);
  conns[id].fd = -1;
  socket.close(ec);
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
    const auto accepted = Clock::now();
    const auto peer = socket.remote_endpoint(ec);
    const std::string client = ec ? std::string("?") : peer.address().to_string();
    const uint64_t id = im.admit(socket.native_handle(), client);
    if (!id) {
      im.metrics.closed(Metrics::Closed::kRefused);
      send_and_close(socket,
                     ApiError{503, "Too many open connections with requests in progress.",
                              "server_error", "", "overloaded"},
                     {{"Retry-After", std::to_string(im.admission.retry_after_s())}});
      continue;
    }
    // Owned through a pointer that is emptied before the last touch below, so nothing of the
    // socket is left to destroy once stop() may have returned.
    auto owned = std::make_unique<tcp::socket>(std::move(socket));
    std::thread([&im, s = std::move(owned), accepted, id]() mutable {
      im.serve_connection(std::move(*s), accepted, id);
      s.reset();
      // The last touch of the server: stop() returns once every entry is gone.
      std::lock_guard lock(im.conn_mu);
      im.forget(id);
      im.conn_cv.notify_all();
    }).detach();
  }
}

void Server::stop() {
  auto& im = *impl_;
  if (im.stopping.exchange(true)) return;
  // shutdown() wakes a thread blocked in accept(); close() alone does not on Linux.
  ::shutdown(im.acceptor.native_handle(), SHUT_RDWR);
  // Queued requests are answered 503; those generating finish.
  im.admission.stop();
  std::unique_lock lock(im.conn_mu);
  // Idle keep-alive connections wake up with end-of-stream; in-flight responses still go out.
  for (const auto& [id, c] : im.conns)
    if (c.fd >= 0) ::shutdown(c.fd, SHUT_RD);
  im.conn_cv.wait_for(lock, std::chrono::seconds(30), [&] { return im.conns.empty(); });
}

}  // namespace llmops::serve
