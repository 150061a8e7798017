// The web UI's JSON API and pages (docs/ui.md): routes a request to its handler, maps every
// failure to {"error": {"code", "message"}} with its HTTP status, serves the embedded front end.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "store/store.hpp"
#include "ui/feed.hpp"
#include "ui/http.hpp"
#include "ui/spec_cache.hpp"

namespace llmops::ui {

struct UiOptions {
  std::filesystem::path home;        // the store's folder ($LLMOPS_HOME)
  std::filesystem::path assets_dir;  // "" = the embedded front end
  // `schedule list --json` rows for the pipelines folder (given by the CLI, which owns them).
  std::function<Result<nlohmann::json>(store::Store*)> schedules;
  std::string token;       // actions need it as a bearer token; "" = read-only
  std::string llmops_bin;  // the llmops executable that actions run
  std::string version;
  std::chrono::milliseconds heartbeat{15000}, poll{250};
  std::string host = "127.0.0.1";  // where it listens: the Host header may name it
  int port = 0;                    // set once listening: the Host header must name it
  // Runs with more steps get a summary page (counts, and the steps that need a look) instead of
  // every step: the browser would hold too much.
  size_t summary_over_steps = 50000;
  bool check_host = true;  // false with --allow-remote (other names reach it)
};

// An error a handler gives up with: status, code, message (+ extra fields).
struct ApiError {
  int status;
  std::string code, message;
  nlohmann::json extra = nlohmann::json::object();
};

class Api {
 public:
  explicit Api(UiOptions options);
  ~Api();
  void handle(const Request& req, Exchange& ex);
  Feed& feed() { return *feed_; }
  UiOptions& options() { return o_; }

  // A reader from the pool, returned to it on destruction (dropped when it failed).
  class Reader {
   public:
    Reader(Api& api, std::unique_ptr<store::Store> s) : api_(api), s_(std::move(s)) {}
    Reader(Reader&& o) noexcept : api_(o.api_), s_(std::move(o.s_)), broken_(o.broken_) {}
    ~Reader();
    store::Store* operator->() { return s_.get(); }
    store::Store& operator*() { return *s_; }
    void broken() { broken_ = true; }

   private:
    Api& api_;
    std::unique_ptr<store::Store> s_;
    bool broken_ = false;
  };
  Reader reader();  // throws ApiError (no_store, schema_*)

 private:
  friend class Reader;
  void route(const Request& req, Exchange& ex);
  nlohmann::json meta();
  nlohmann::json runs(const Request& req);
  nlohmann::json run(int64_t id);
  nlohmann::json attempts(int64_t id);
  nlohmann::json step(int64_t id, const std::string& name);
  nlohmann::json log(int64_t id, const std::string& name, const Request& req);
  void log_stream(int64_t id, const std::string& name, const Request& req, Exchange& ex);
  void log_download(int64_t id, const std::string& name, Exchange& ex);
  void events(const Request& req, Exchange& ex);
  nlohmann::json metric_names(const Request& req);
  nlohmann::json metrics(const Request& req);
  nlohmann::json gates(const Request& req);
  nlohmann::json lineage(const Request& req);
  nlohmann::json artifact(const std::string& ref);
  nlohmann::json deployments();
  nlohmann::json deployment(const std::string& name);
  nlohmann::json schedules();
  nlohmann::json reports(const Request& req);
  nlohmann::json action(const Request& req, const std::string& kind, const std::string& target,
                        const std::string& verb);
  void asset(const Request& req, Exchange& ex);

  std::filesystem::path log_path(int64_t id, const std::string& name);

  UiOptions o_;
  std::unique_ptr<Feed> feed_;
  std::mutex pool_mu_;
  std::vector<std::unique_ptr<store::Store>> pool_;
  // Parsed specs of runs, by digest (a 10,000-step YAML takes ~150 ms to parse): the run page
  // and the step panel share them.
  std::unique_ptr<SpecCache> specs_;
};

// Query parameters: each handler names the ones it takes; anything else is a bad_query.
void allow_params(const Request& req, std::initializer_list<const char*> names);
int64_t int_param(const Request& req, const char* name, int64_t def, int64_t lo, int64_t hi);
std::string str_param(const Request& req, const char* name);
std::vector<int64_t> ids_param(const Request& req, const char* name, size_t max);
int64_t parse_id(const std::string& s, const char* what);

}  // namespace llmops::ui
