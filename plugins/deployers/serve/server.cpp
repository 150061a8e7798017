// The server's routing, auth, admin routes and version switching, and Exchange (one request's
// answer); see server.hpp. Connections are in server_conn.cpp, admission in server_queue.cpp and
// the completion routes in server_generate.cpp.
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <boost/asio/write.hpp>
#include <random>

#include "server_impl.hpp"

namespace llmops::serve {

using nlohmann::json;

namespace {

// Equal in time independent of where they differ and of the length of either (compares digests).
bool same_secret(std::string_view a, std::string_view b) {
  unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), da);
  SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), db);
  return CRYPTO_memcmp(da, db, sizeof da) == 0;
}

}  // namespace

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
    const auto header = req[http::field::authorization];
    const auto got = bearer_token(std::string_view(header.data(), header.size()));
    if (!got || !same_secret(*got, opt.token)) {
      const ApiError e{401, "Missing or invalid bearer token in the Authorization header.",
                       "invalid_request_error", "", "invalid_api_key"};
      ex.send(e.status, error_body(e), "application/json", {{"WWW-Authenticate", "Bearer"}});
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
    ex.send(200, metrics.render(opt.name, shares(), load()),
            "text/plain; version=0.0.4; charset=utf-8");
    return;
  }
  if (target == "/v1/feedback") {
    if (is("/v1/feedback", http::verb::post)) handle_feedback(ex);
    return;
  }
  if (target == "/admin/load") {
    if (is("/admin/load", http::verb::post)) handle_admin_load(ex);
    return;
  }
  if (target == "/admin/promote") {
    if (is("/admin/promote", http::verb::post)) handle_admin_promote(ex);
    return;
  }
  if (target == "/admin/status") {
    if (is("/admin/status", http::verb::get)) handle_admin_status(ex);
    return;
  }
  ex.send_error(
      ApiError{404, "Unknown route " + target, "invalid_request_error", "", "unknown_url"});
  metrics.request(label(), "other", 404);
}

void Server::Impl::handle_feedback(Exchange& ex) {
  auto parsed = parse_feedback_request(ex.request().body());
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
  metrics.request(label(), "/v1/feedback", ex.status());
}

void Server::Impl::handle_admin_promote(Exchange& ex) {
  std::lock_guard lock(versions_mu);
  if (!canary) {
    ex.send_error(
        ApiError{409, "There is no canary to promote.", "invalid_request_error", "", "no_canary"});
    return;
  }
  stable = std::move(canary);
  canary.reset();
  canary_percent = 0;
  ex.send(200, json{{"status", "promoted"}, {"version", stable->name}}.dump());
}

void Server::Impl::handle_admin_status(Exchange& ex) {
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
                    {"generating", admission.running()},
                    {"queued", admission.queued()}}
                   .dump());
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
