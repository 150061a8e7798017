// Server: the OpenAI-compatible HTTP server of `llmops-serve` on Boost.Beast. Torch-free: the
// model sits behind Backend (main.cpp implements it on plugins/lm; tests use a fake), so routing,
// auth, limits, streaming, metrics, the request log and blue/green switching are tested without
// libtorch.
//
// Concurrency model: one thread per connection doing blocking Beast reads and writes. A
// connection's thread blocks in Backend::generate; concurrent requests run at once up to
// max_concurrency, beyond which a generation request is answered 429 at once. max_connections
// bounds the threads. The llmops-serve backend decodes concurrent requests together, several per
// forward pass (lm::BatchGenerator); the server does not need to know.
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

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string name = "llmops";  // the served model id
  std::string token;            // empty: no auth
  int max_concurrency = 4;
  int max_connections = 256;
  int64_t max_body_bytes = 1 << 20;
  double timeout_s = 60;  // per generation request
  double idle_timeout_s = 30;
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
