// Server: the OpenAI-compatible HTTP server of `llmops-serve` on Boost.Beast. Torch-free: the
// model sits behind Backend (main.cpp implements it on plugins/lm; tests use a fake), so routing,
// auth, limits, streaming, metrics, the request log and blue/green switching are tested without
// libtorch.
//
// Concurrency model: one thread per connection doing blocking Beast reads and writes. A
// connection's thread blocks in Backend::generate; up to max_concurrency generation requests run
// at once, and up to max_queue more wait their turn (first come, first served) for at most
// queue_timeout_s. Only a full queue answers 429, and a wait past the timeout 503, both with
// Retry-After. The llmops-serve backend decodes concurrent requests together, several per
// forward pass (lm::BatchGenerator); the server does not need to know.
//
// Connections: a request's header must arrive within header_timeout_s (from the connection, or
// from the first byte of a kept-alive connection's next request), its body within body_timeout_s,
// and a kept-alive connection may sit idle for idle_timeout_s: each is a deadline for the whole
// phase, so trickling bytes does not extend it. A connection that has not sent a complete request
// (new, partial or idle) is "pending". When one client address holds max_pending_per_client
// pending connections, or all max_connections are open, a new connection closes the oldest
// pending one (of that address, or of anyone) to make room; a new connection is refused (503)
// only when every open connection has a request in progress. So idle and half-sent connections,
// however many, never lock out a client that sends its request.
//
// Versions: a request takes a shared_ptr to the version it runs on (stable, or the canary for
// canary_percent of requests), so a switch never disturbs an in-flight request: the old model is
// freed when its last request finishes.
// Thread safety: listen() and run() from one thread; stop() and load() from any.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api.hpp"
#include "llmops/status.hpp"
#include "lm/generation.hpp"
#include "metrics.hpp"
#include "request_log.hpp"

namespace llmops::serve {

// One loaded model version.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::vector<int64_t> encode(const std::string& text) const = 0;  // no BOS/EOS added
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  // The conversation as the model's prompt text, ending with the assistant's turn opening.
  virtual std::string render_chat(const std::vector<lm::ChatMessage>& messages) const = 0;
  virtual std::vector<int64_t> stop_ids(bool chat) const = 0;
  virtual int64_t context_length() const = 0;
  // Returns only the new tokens. May stop early when options.on_token returns false.
  virtual Result<std::vector<int64_t>> generate(const std::vector<int64_t>& prompt,
                                                const lm::GenerationOptions& options) const = 0;
  // How it decodes (batching figures), shown per version by GET /admin/status.
  virtual nlohmann::json status() const { return nlohmann::json::object(); }
};

using BackendLoader = std::function<Result<std::shared_ptr<Backend>>(const LoadRequest&)>;

// Generations at once by default, sized from the machine: 16 per core, from 16 to 128. With
// batching (lm::BatchGenerator) every one of them joins the batch, where a larger batch costs
// little more per step than a small one.
int default_max_concurrency();

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string name = "llmops";  // the served model id
  std::string token;            // empty: no auth
  int max_concurrency = default_max_concurrency();
  int max_queue = 256;          // generation requests waiting for a slot; more get 429
  double queue_timeout_s = 60;  // the longest wait for a slot; 503 after
  int max_connections = 1024;   // open connections (each holds a thread)
  int max_pending_per_client =
      64;  // per client address, connections without a request; 0: no limit
  int64_t max_body_bytes = 1 << 20;
  double timeout_s = 60;         // per generation request, from the moment it gets a slot
  double header_timeout_s = 10;  // a request's header, whole
  double body_timeout_s = 30;    // a request's body, whole
  double idle_timeout_s = 30;    // a kept-alive connection between requests
  RequestLimits limits;
  RequestLogOptions log;
};

class Server {
 public:
  Server(ServerOptions options, BackendLoader loader);
  ~Server();

  Status listen();  // binds; port() is the real port afterwards
  uint16_t port() const;
  void run();   // accepts until stop()
  void stop();  // stops accepting; waits (bounded) for open connections

  // Loads a version and switches traffic (canary_percent 0 or 100: all of it). Until the first
  // load succeeds /health answers 503.
  Status load(const LoadRequest& request);

  bool ready() const;
  std::string stable_version() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace llmops::serve
