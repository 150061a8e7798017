// The blocking Beast client; see http_client.hpp.
#include "plugins/common/http_client.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <strings.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace llmops::common {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

std::string HttpResponse::header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  return "";
}

struct HttpClient::Impl {
  std::string host;
  uint16_t port;
  double timeout_s;
  net::io_context ioc;
  tcp::socket socket{ioc};
  beast::flat_buffer buffer;

  Status connect() {
    boost::system::error_code ec;
    socket.close(ec);
    buffer.clear();
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec) return Status(StatusCode::kUnavailable, "resolve " + host + ": " + ec.message());
    socket = tcp::socket(ioc);
    net::connect(socket, results, ec);
    if (ec)
      return Status(StatusCode::kUnavailable,
                    "connect " + host + ":" + std::to_string(port) + ": " + ec.message());
    // Blocking Beast calls ignore Asio timers; socket timeouts bound them instead.
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout_s);
    tv.tv_usec = static_cast<suseconds_t>((timeout_s - double(tv.tv_sec)) * 1e6);
    setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return Status::ok();
  }

  Result<HttpResponse> read_response() {
    boost::system::error_code ec;
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::uint64_t{1} << 32);
    http::read(socket, buffer, parser, ec);
    if (ec) return Status(StatusCode::kUnavailable, "read: " + ec.message());
    auto res = parser.release();
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    for (const auto& f : res)
      out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    if (!res.keep_alive()) socket.close(ec);
    return out;
  }
};

HttpClient::HttpClient(std::string host, uint16_t port, double timeout_s)
    : impl_(std::make_unique<Impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
  impl_->timeout_s = timeout_s;
}
HttpClient::~HttpClient() = default;

Result<HttpResponse> HttpClient::request(const std::string& method, const std::string& target,
                                         const std::string& body, const Headers& headers) {
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, impl_->host);
  req.set(http::field::user_agent, "llmops-client");
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  // A kept-alive connection the server has since closed fails on first use: retry once fresh.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool fresh = !impl_->socket.is_open();
    if (fresh)
      if (auto s = impl_->connect(); !s) return s;
    boost::system::error_code ec;
    http::write(impl_->socket, req, ec);
    if (!ec) {
      auto r = impl_->read_response();
      if (r || fresh) return r;
    } else if (fresh) {
      return Status(StatusCode::kUnavailable, "write: " + ec.message());
    }
    impl_->socket.close(ec);
  }
  return Status(StatusCode::kUnavailable, "the connection failed twice");
}

Result<HttpResponse> HttpClient::raw(const std::string& bytes) {
  if (auto s = impl_->connect(); !s) return s;
  boost::system::error_code ec;
  net::write(impl_->socket, net::buffer(bytes), ec);
  if (ec) return Status(StatusCode::kUnavailable, "write: " + ec.message());
  auto r = impl_->read_response();
  impl_->socket.close(ec);
  return r;
}

Result<HttpResponse> http_request(const std::string& host, uint16_t port, const std::string& method,
                                  const std::string& target, const std::string& body,
                                  const Headers& headers, double timeout_s) {
  HttpClient c(host, port, timeout_s);
  return c.request(method, target, body, headers);
}

std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find('\n', pos);
    if (end == std::string::npos) end = body.size();
    std::string line = body.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("data:", 0) == 0) {
      size_t start = 5;
      if (start < line.size() && line[start] == ' ') ++start;
      out.push_back(line.substr(start));
    }
    pos = end + 1;
  }
  return out;
}

}  // namespace llmops::common
