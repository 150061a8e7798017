// Helpers for the deployer tests: temporary folders and LLMOPS_HOME, bounded waits, a fake model
// backend for in-process servers, and real llmops-serve processes on loopback.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "deploy.hpp"
#include "server.hpp"
#include "tests/common/temp_dir.hpp"

namespace dtest {

namespace fs = std::filesystem;
using nlohmann::json;

inline fs::path source_dir() {
  return LLMOPS_SOURCE_DIR;
}
inline fs::path tiny_model() {
  return source_dir() / "tests/data/hf/tiny-llama";
}
inline fs::path bpe_tokenizer() {
  return source_dir() / "tests/data/hf/tokenizer-bpe/tokenizer.json";
}
inline fs::path serve_binary() {
  return fs::path(LLMOPS_PLUGIN_BUILD_DIR) / "llmops-serve";
}

// Polls `pred` every 10 ms until it holds or `seconds` pass; returns the last answer.
inline bool wait_until(const std::function<bool()>& pred, double seconds = 30) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

struct TempDir : llmops::testing::TempDir {
  TempDir() : llmops::testing::TempDir("deployer") {}
};

// LLMOPS_HOME pointed at a fresh folder for the test's lifetime; stops every deployment in it.
struct TempHome {
  TempDir dir;
  std::string old;
  TempHome() {
    if (const char* h = std::getenv("LLMOPS_HOME")) old = h;
    ::setenv("LLMOPS_HOME", dir.path.c_str(), 1);
  }
  ~TempHome() {
    for (const auto& st : llmops::serve::list_deployments())
      (void)llmops::serve::stop_deployment(st.value("name", ""), 10);
    if (old.empty())
      ::unsetenv("LLMOPS_HOME");
    else
      ::setenv("LLMOPS_HOME", old.c_str(), 1);
  }
};

// A model whose "tokens" are bytes. It answers `reply` (or the prompt's last line when empty),
// one byte per step; when `gate` is set it waits for release() before the first token.
class FakeBackend : public llmops::serve::Backend {
 public:
  explicit FakeBackend(std::string reply = "hello world", bool gate = false)
      : reply_(std::move(reply)), gated_(gate) {}

  std::vector<int64_t> encode(const std::string& text) const override {
    std::vector<int64_t> ids;
    for (unsigned char c : text) ids.push_back(c + 1);
    return ids;
  }
  std::string decode(const std::vector<int64_t>& ids) const override {
    std::string s;
    for (auto id : ids)
      if (id > 0) s += static_cast<char>(id - 1);
    return s;
  }
  std::string render_chat(const std::vector<llmops::lm::ChatMessage>& messages) const override {
    std::string s;
    for (const auto& m : messages) s += m.role + ": " + m.content + "\n";
    return s;
  }
  std::vector<int64_t> stop_ids(bool) const override { return {0}; }
  int64_t context_length() const override { return 4096; }
  llmops::Result<std::vector<int64_t>> generate(
      const std::vector<int64_t>& prompt, const llmops::lm::GenerationOptions& o) const override {
    if (gated_) {
      std::unique_lock lock(mu_);
      ++waiting_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return open_; });
    }
    std::vector<int64_t> out;
    for (auto id : encode(reply_)) {
      if (static_cast<int64_t>(out.size()) >= o.max_new_tokens) break;
      if (delay_ms_) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
      out.push_back(id);
      if (o.on_token && !o.on_token(id)) return out;
    }
    if (static_cast<int64_t>(out.size()) < o.max_new_tokens && !o.stop_tokens.empty()) {
      out.push_back(0);
      if (o.on_token) o.on_token(0);
    }
    return out;
  }

  void release() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  int waiting() const {
    std::lock_guard lock(mu_);
    return waiting_;
  }
  int delay_ms_ = 0;

 private:
  std::string reply_;
  bool gated_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable int waiting_ = 0;
  bool open_ = false;
};

// An in-process Server on a free loopback port, accepting on its own thread.
struct InProcessServer {
  llmops::serve::Server server;
  std::thread thread;
  explicit InProcessServer(llmops::serve::ServerOptions opt, llmops::serve::BackendLoader loader,
                           std::string first_version = "v1")
      : server(std::move(opt), std::move(loader)) {
    if (!server.listen().is_ok()) throw std::runtime_error("listen failed");
    thread = std::thread([this] { server.run(); });
    if (!first_version.empty())
      if (!server.load({"fake", first_version, 0, ""}).is_ok())
        throw std::runtime_error("load failed");
  }
  ~InProcessServer() {
    server.stop();
    thread.join();
  }
  uint16_t port() const { return server.port(); }
};

// A real llmops-serve process on the tiny model, killed at scope exit.
struct ServeProcess {
  pid_t pid = -1;
  int port = 0;
  fs::path log;
  std::string output;

  explicit ServeProcess(const fs::path& dir, std::vector<std::string> extra = {},
                        const std::string& version = "v1") {
    log = dir / ("serve-" + version + ".out");
    std::vector<std::string> args = {"--model",     tiny_model().string(),
                                     "--tokenizer", bpe_tokenizer().string(),
                                     "--name",      "tiny",
                                     "--version",   version,
                                     "--log",       (dir / "logs").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    auto p = llmops::serve::spawn_detached(serve_binary(), args, log);
    if (!p) throw std::runtime_error(p.status().message());
    pid = *p;
    wait_until(
        [&] {
          std::ifstream in(log);
          output.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
          for (size_t pos = 0; (pos = output.find("{\"event\"", pos)) != std::string::npos; ++pos) {
            auto j = json::parse(output.substr(pos, output.find('\n', pos) - pos), nullptr, false);
            if (j.is_object() && j["event"] == "ready") port = j["port"];
          }
          return port != 0 || !llmops::serve::process_alive(pid);
        },
        120);
  }
  ~ServeProcess() { kill(); }
  void kill() {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    if (!wait_until([&] { return !llmops::serve::process_alive(pid); }, 30)) {
      ::kill(pid, SIGKILL);
      wait_until([&] { return !llmops::serve::process_alive(pid); }, 30);
    }
    pid = -1;
  }
};

inline std::string chat_body(const std::string& model, const std::string& user, int max_tokens = 8,
                             json extra = json::object()) {
  json j = {{"model", model},
            {"messages", json::array({{{"role", "user"}, {"content", user}}})},
            {"max_tokens", max_tokens},
            {"temperature", 0}};
  j.update(extra);
  return j.dump();
}

}  // namespace dtest
