// The UI's HTTP server: see http.hpp.
#include "ui/http.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace llmops::ui {

namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

std::string Request::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

bool percent_decode(const std::string& in, std::string& out, bool plus_is_space) {
  out.clear();
  out.reserve(in.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == '\0') return false;
    out += c;
  }
  return true;
}

bool parse_query(const std::string& query, std::map<std::string, std::string>& out,
                 std::string& bad) {
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string::npos) end = query.size();
    const std::string part = query.substr(start, end - start);
    start = end + 1;
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    std::string name, value;
    if (!percent_decode(part.substr(0, eq), name, true)) {
      bad = part.substr(0, std::min<size_t>(eq, 64));
      return false;
    }
    if (eq != std::string::npos && !percent_decode(part.substr(eq + 1), value, true)) {
      bad = name;
      return false;
    }
    if (!out.emplace(name, value).second) {
      bad = name;
      return false;
    }
  }
  return true;
}

// One accepted socket: reads requests with deadlines, writes responses, streams events.
class Connection {
 public:
  Connection(int fd, std::string peer, const ServerOptions& o) : fd_(fd), peer_(peer), o_(o) {}

  // Waits until readable or the deadline; false at the deadline or on an error.
  bool wait_readable(Clock::time_point deadline) {
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      const int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
      if (r > 0) return true;
      if (r < 0 && errno != EINTR) return false;
    }
  }

  // Reads the next request. 0: got one; -1: the peer left or idled out (close quietly);
  // otherwise the HTTP status to answer with before closing.
  int read(Request& req) {
    http::request_parser<http::string_body> p;
    p.header_limit(static_cast<std::uint32_t>(o_.max_header_bytes));
    p.body_limit(o_.max_body_bytes);
    p.eager(true);
    bool first = true;
    Clock::time_point deadline = Clock::now() + o_.idle_timeout;
    while (!p.is_done()) {
      if (buf_.empty() || need_more_) {
        if (!wait_readable(deadline)) return first && buf_.empty() ? -1 : 408;
        char chunk[8192];
        const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0) return -1;
        if (first) deadline = Clock::now() + o_.header_timeout;
        first = false;
        buf_.append(chunk, static_cast<size_t>(n));
        need_more_ = false;
      }
      boost::beast::error_code ec;
      const size_t used = p.put(boost::asio::buffer(buf_.data(), buf_.size()), ec);
      buf_.erase(0, used);
      if (ec == http::error::need_more) {
        need_more_ = true;
        continue;
      }
      if (ec == http::error::header_limit) return 431;
      if (ec == http::error::body_limit) return 413;
      if (ec) return 400;
    }
    auto msg = p.release();
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.peer = peer_;
    for (const auto& f : msg) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers[name] = std::string(f.value());
    }
    req.body = std::move(msg.body());
    keep_alive_ = msg.keep_alive();
    return 0;
  }

  bool write_all(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        broken_ = true;
        return false;
      }
      off += static_cast<size_t>(n);
    }
    return true;
  }

  bool gone() {
    if (broken_) return true;
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) > 0) return broken_ = true;
    return false;
  }

  int fd_;
  std::string peer_;
  const ServerOptions& o_;
  std::string buf_;
  bool need_more_ = false, keep_alive_ = true, broken_ = false;
  bool head_ = false;  // a HEAD request: headers only
};

namespace {

std::string status_line(int status) {
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
}

}  // namespace

void Exchange::send(const Response& r) {
  sent_ = true;
  // HEAD and 304 answers carry no body (a 304 names no length either).
  const bool no_body = conn_.head_ || r.status == 304 || r.status == 204;
  std::string out = status_line(r.status);
  out += "Content-Type: " + r.content_type + "\r\n";
  if (r.status != 304) out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  out += "X-Content-Type-Options: nosniff\r\n";
  for (const auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
  if (!conn_.keep_alive_) out += "Connection: close\r\n";
  out += "\r\n";
  if (no_body) {
    conn_.write_all(out);
  } else if (out.size() + r.body.size() < 64 * 1024) {
    out += r.body;
    conn_.write_all(out);
  } else if (conn_.write_all(out)) {
    conn_.write_all(r.body);
  }
}

bool Exchange::send_file_head(const Response& r, size_t size) {
  sent_ = true;
  conn_.keep_alive_ = false;  // the body may come out shorter (a file that shrank): close after
  std::string out = status_line(r.status);
  out += "Content-Type: " + r.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(size) + "\r\n";
  for (const auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
  if (!conn_.keep_alive_) out += "Connection: close\r\n";
  out += "\r\n";
  return conn_.write_all(out) && !conn_.head_;
}

bool Exchange::write(const char* data, size_t n) {
  return conn_.write_all(std::string(data, n));
}

bool Exchange::start_events() {
  sent_ = true;
  conn_.keep_alive_ = false;
  return conn_.write_all(status_line(200) +
                         "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                         "X-Accel-Buffering: no\r\nConnection: close\r\n\r\n");
}

void format_event(std::string& out, const std::string& id, const std::string& name,
                  const std::string& data) {
  if (!id.empty()) out += "id: " + id + "\n";
  if (!name.empty()) out += "event: " + name + "\n";
  size_t start = 0;
  for (;;) {  // one data: line per line of data
    const size_t nl = data.find('\n', start);
    out += "data: ";
    out.append(data, start, nl == std::string::npos ? std::string::npos : nl - start);
    out += "\n";
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  out += "\n";
}

bool Exchange::event(const std::string& id, const std::string& name, const std::string& data) {
  std::string out;
  format_event(out, id, name, data);
  return conn_.write_all(out);
}

bool Exchange::comment(const std::string& text) {
  return conn_.write_all(": " + text + "\n\n");
}

bool Exchange::retry(int ms) {
  return conn_.write_all("retry: " + std::to_string(ms) + "\n\n");
}

bool Exchange::peer_gone() {
  return conn_.gone();
}

HttpServer::~HttpServer() {
  stop();
}

std::string HttpServer::listen(const ServerOptions& options) {
  options_ = options;
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return std::string("socket: ") + std::strerror(errno);
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(options.port));
  if (::inet_pton(AF_INET, options.host.c_str(), &addr.sin_addr) != 1)
    return "'" + options.host + "' is not an IPv4 address (e.g. 127.0.0.1)";
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 128) != 0) {
    const std::string why = std::strerror(errno);
    ::close(listen_fd_);
    listen_fd_ = -1;
    return "cannot listen on " + options.host + ":" + std::to_string(options.port) + ": " + why;
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  return "";
}

void HttpServer::run(Handler handler) {
  handler_ = std::move(handler);
  acceptor_ = std::thread([this] { accept_loop(); });
}

void HttpServer::accept_loop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (fd < 0) continue;
    char ip[INET_ADDRSTRLEN] = "";
    ::inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
    std::vector<std::thread> finished;
    {
      std::lock_guard lock(mu_);
      finished.swap(done_);
      if (stopping_ || active_ >= options_.max_connections) {
        static const std::string body =
            "{\"error\":{\"code\":\"busy\",\"message\":\"too many connections to llmops ui: "
            "try again\"}}";
        static const std::string busy =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            "Connection: close\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body;
        (void)!::send(fd, busy.data(), busy.size(), MSG_NOSIGNAL);
        ::close(fd);
      } else {
        try {
          // The entry is in threads_ before the thread can look for it (mu_ is held).
          threads_.emplace(fd, std::thread([this, fd, ip = std::string(ip)] { serve(fd, ip); }));
          ++active_;
          fds_.insert(fd);
        } catch (const std::system_error&) {
          ::close(fd);  // no thread to be had: drop this one, keep serving the others
        }
      }
    }
    for (auto& t : finished) t.join();
  }
}

void HttpServer::serve(int fd, std::string peer) {
  timeval tv{static_cast<time_t>(options_.write_timeout.count() / 1000),
             static_cast<suseconds_t>((options_.write_timeout.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  Connection conn(fd, peer, options_);
  while (!stopping_) {
    Request req;
    const int r = conn.read(req);
    if (r < 0) break;
    Exchange ex(conn);
    conn.head_ = req.method == "HEAD";
    if (r > 0) {
      conn.keep_alive_ = false;
      ex.send({r,
               "application/json",
               "{\"error\":{\"code\":\"bad_request\",\"message\":\"malformed or too large HTTP "
               "request (" +
                   std::to_string(r) + ")\"}}",
               {}});
      break;
    }
    const size_t q = req.target.find('?');
    std::string bad;
    if (req.target.size() > options_.max_target_bytes) {
      conn.keep_alive_ = false;
      ex.send({414,
               "application/json",
               "{\"error\":{\"code\":\"bad_query\",\"message\":\"the address is longer than " +
                   std::to_string(options_.max_target_bytes) + " bytes\"}}",
               {}});
      break;
    }
    if (!percent_decode(req.target.substr(0, q), req.path, false) ||
        (q != std::string::npos && !parse_query(req.target.substr(q + 1), req.query, bad))) {
      ex.send({400,
               "application/json",
               "{\"error\":{\"code\":\"bad_query\",\"message\":\"malformed address: a bad "
               "%-escape or a parameter given twice\"}}",
               {}});
      if (!conn.keep_alive_ || conn.broken_) break;
      continue;
    }
    try {
      handler_(req, ex);
    } catch (...) {
      if (!ex.sent())
        ex.send({500,
                 "application/json",
                 "{\"error\":{\"code\":\"internal\",\"message\":\"internal error\"}}",
                 {}});
      break;
    }
    if (!ex.sent())
      ex.send({500,
               "application/json",
               "{\"error\":{\"code\":\"internal\",\"message\":\"no response\"}}",
               {}});
    if (!conn.keep_alive_ || conn.broken_) break;
  }
  std::lock_guard lock(mu_);
  if (auto it = threads_.find(fd); it != threads_.end()) {
    done_.push_back(std::move(it->second));
    threads_.erase(it);
  }
  fds_.erase(fd);
  ::close(fd);
  --active_;
}

void HttpServer::stop() {
  stopping_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  {
    std::lock_guard lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    for (auto& [fd, t] : threads_) threads.push_back(std::move(t));
    threads_.clear();
  }
  for (auto& t : threads)
    if (t.joinable()) t.join();
  std::lock_guard lock(mu_);
  for (auto& t : done_)
    if (t.joinable()) t.join();
  done_.clear();
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
}

}  // namespace llmops::ui
