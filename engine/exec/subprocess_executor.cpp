#include "engine/exec/subprocess_executor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>

#include "base/time.hpp"
#include "engine/exec/step_context.hpp"

extern char** environ;

namespace fs = std::filesystem;

namespace llmops::engine {

namespace {

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "worker exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    std::string name = strsignal(sig) ? strsignal(sig) : "signal";
    std::string msg = "plugin killed by signal " + std::to_string(sig) + " (" + name + ")";
    if (sig == SIGKILL) msg += "; out of memory, or killed from outside";
    return msg;
  }
  return "worker ended abnormally";
}

LogLevel level_from(const std::string& s) {
  if (s == "debug") return LogLevel::kDebug;
  if (s == "warn") return LogLevel::kWarn;
  if (s == "error") return LogLevel::kError;
  return LogLevel::kInfo;
}

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

std::atomic<bool> g_worker_cancel{false};
void on_worker_term(int) {
  g_worker_cancel.store(true);
}

void write_line(int fd, const nlohmann::json& j) {
  std::string s = j.dump() + "\n";
  const char* p = s.data();
  size_t left = s.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= size_t(n);
  }
}

}  // namespace

nlohmann::json request_to_json(const StepRequest& r) {
  nlohmann::json inputs = nlohmann::json::array();
  for (const auto& in : r.inputs)
    inputs.push_back({{"name", in.name},
                      {"path", in.path.string()},
                      {"digest", in.digest},
                      {"kind", in.kind},
                      {"metadata", in.metadata_json}});
  return {{"run_id", r.run_id},
          {"step", r.step},
          {"attempt", r.attempt},
          {"plugin", {{"id", r.plugin.id}, {"path", r.plugin.path}}},
          {"params", r.params},
          {"inputs", inputs},
          {"work_dir", r.work_dir.string()},
          {"log_path", r.log_path.string()},
          {"memory_limit", r.memory_limit}};
}

StepRequest request_from_json(const nlohmann::json& j) {
  StepRequest r;
  r.run_id = j.at("run_id").get<int64_t>();
  r.step = j.at("step").get<std::string>();
  r.attempt = j.at("attempt").get<int>();
  r.plugin.id = j.at("plugin").at("id").get<std::string>();
  r.plugin.path = j.at("plugin").at("path").get<std::string>();
  r.params = j.at("params");
  for (const auto& in : j.at("inputs"))
    r.inputs.push_back({in.at("name").get<std::string>(), in.at("path").get<std::string>(),
                        in.at("digest").get<std::string>(), in.at("kind").get<std::string>(),
                        in.at("metadata").get<std::string>()});
  r.work_dir = j.at("work_dir").get<std::string>();
  r.log_path = j.at("log_path").get<std::string>();
  r.memory_limit = j.value("memory_limit", int64_t(0));
  return r;
}

SubprocessExecutor::SubprocessExecutor(fs::path worker, double grace_s, bool fork_server)
    : worker_(std::move(worker)), grace_s_(grace_s) {
  if (fork_server) fork_ = std::make_unique<ForkServerClient>(worker_);
}

SubprocessExecutor::~SubprocessExecutor() = default;

StepResult SubprocessExecutor::execute(const StepRequest& request) {
  StepResult result;
  std::error_code ec;
  fs::create_directories(request.work_dir, ec);
  fs::create_directories(request.log_path.parent_path(), ec);
  const fs::path req_file = request.work_dir / "request.json";
  {
    std::ofstream out(req_file);
    out << request_to_json(request).dump();
    if (!out) {
      result.status = Status::internal("cannot write " + req_file.string());
      return result;
    }
  }
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    result.status = Status::internal(std::string("pipe: ") + strerror(errno));
    return result;
  }
  const std::string worker = worker_.string();
  const std::string req = req_file.string();
  const std::string log = request.log_path.string();
  pid_t pid = -1;
  int status_fd = -1;  // from the fork server: "exit <status>" arrives here
  ForkServerClient::Child child;
  std::string fork_error;
  if (fork_ && fork_->spawn(req, log, pipefd[1], &child, &fork_error)) {
    pid = child.pid;
    status_fd = child.status_fd;
  } else {
    const char* argv[] = {worker.c_str(), "exec-step", req.c_str(), nullptr};
    // posix_spawn (vfork-like) rather than fork: the engine may hold a large heap, and copying
    // its page tables per step would dominate the cost of a small step.
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 3);  // clears close-on-exec on fd 3
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);  // its own group: kills reach children
    posix_spawnattr_setpgroup(&attr, 0);
    const int rc = posix_spawn(&pid, argv[0], &fa, &attr, const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      close(pipefd[0]);
      close(pipefd[1]);
      result.status = Status::internal("cannot start worker " + worker + ": " + strerror(rc));
      return result;
    }
  }
  close(pipefd[1]);

  std::string buffer;
  bool got_result = false;
  double term_sent_at = 0;
  bool killed = false;
  char chunk[4096];
  for (;;) {
    if (request.cancel->load() && term_sent_at == 0) {
      kill(-pid, SIGTERM);
      term_sent_at = base::steady_now();
    }
    if (term_sent_at > 0 && !killed && base::steady_now() - term_sent_at > grace_s_) {
      kill(-pid, SIGKILL);
      killed = true;
    }
    pollfd pfd{pipefd[0], POLLIN, 0};
    const int pr = poll(&pfd, 1, 50);
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) continue;
    const ssize_t n = read(pipefd[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the worker closed the pipe: it ended
    buffer.append(chunk, size_t(n));
    size_t nl;
    while ((nl = buffer.find('\n')) != std::string::npos) {
      auto j = nlohmann::json::parse(buffer.substr(0, nl), nullptr, false);
      buffer.erase(0, nl + 1);
      if (!j.is_object()) continue;
      const std::string type = j.value("type", "");
      if (type == "progress" && request.on_progress) {
        request.on_progress(j.value("done", 0.0), j.value("total", 0.0), j.value("note", ""));
      } else if (type == "log" && request.on_log) {
        request.on_log(level_from(j.value("level", "info")), j.value("message", ""));
      } else if (type == "result") {
        got_result = true;
        const bool ok = j.value("ok", false);
        result.status = ok ? Status::ok() : Status::internal(j.value("error", "failed"));
        for (const auto& o : j.value("outputs", nlohmann::json::array()))
          result.outputs.push_back({o.value("name", ""), o.value("kind", "file"),
                                    o.value("path", ""), o.value("metadata", "{}")});
        for (const auto& m : j.value("metrics", nlohmann::json::array()))
          result.metrics.push_back({m.value("name", ""), m.value("value", 0.0),
                                    m.value("step", int64_t(-1)), m.value("time", 0.0)});
        for (const auto& t : j.value("triggers", nlohmann::json::array()))
          result.triggers.push_back(
              {t.value("kind", ""), t.value("reason", ""), t.value("payload", "{}")});
      }
    }
  }
  close(pipefd[0]);
  int status = 0;
  // The pipe closed; the worker is exiting. Wait, still honouring the kill deadline: for the
  // fork server's report, or on a pidfd, which becomes readable the moment a spawned worker
  // exits (a fixed sleep here would cost more than a small step), or with a short back-off where
  // pidfds are missing.
  const int pidfd = status_fd >= 0 ? -1 : static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  int backoff_us = 50;
  bool lost = false;  // the fork server ended without reporting this child
  for (;;) {
    if (status_fd >= 0) {
      const int r = read_exit_status(status_fd, 0, &status);
      if (r != 0) {
        lost = r < 0;
        break;
      }
    } else {
      const pid_t w = waitpid(pid, &status, WNOHANG);
      if (w == pid || (w < 0 && errno != EINTR)) break;
    }
    if (request.cancel->load() && term_sent_at == 0) {
      kill(-pid, SIGTERM);
      term_sent_at = base::steady_now();
    }
    if (term_sent_at > 0 && !killed && base::steady_now() - term_sent_at > grace_s_) {
      kill(-pid, SIGKILL);
      killed = true;
    }
    if (status_fd >= 0 || pidfd >= 0) {
      pollfd p{status_fd >= 0 ? status_fd : pidfd, POLLIN, 0};
      poll(&p, 1, 50);
    } else {
      usleep(backoff_us);
      backoff_us = std::min(backoff_us * 2, 10000);
    }
  }
  if (pidfd >= 0) close(pidfd);
  if (status_fd >= 0) close(status_fd);
  if (lost && got_result) status = 0;  // it reported its result; only its exit code went missing
  kill(-pid, SIGKILL);                 // anything the plugin left behind in its group
  if (!got_result) {
    result.status = Status::internal(lost ? "worker ended without a result, and the fork server "
                                            "that started it is gone"
                                          : describe_exit(status));
  } else if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) && result.status.is_ok()) {
    result.status = Status::internal(describe_exit(status));
  }
  return result;
}

int exec_step_main(const fs::path& request_file, int protocol_fd) {
  std::ifstream in(request_file);
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded()) {
    write_line(protocol_fd, {{"type", "result"}, {"ok", false}, {"error", "bad request file"}});
    return 2;
  }
  StepRequest req;
  try {
    req = request_from_json(j);
  } catch (const std::exception& e) {
    write_line(protocol_fd, {{"type", "result"}, {"ok", false}, {"error", e.what()}});
    return 2;
  }
  if (req.memory_limit > 0) {
    // Address-space limit: an allocation past it fails in the plugin instead of swapping the host.
    struct rlimit rl {
      rlim_t(req.memory_limit), rlim_t(req.memory_limit)
    };
    setrlimit(RLIMIT_AS, &rl);
  }
  struct sigaction sa {};
  sa.sa_handler = on_worker_term;
  sigaction(SIGTERM, &sa, nullptr);
  req.cancel = std::shared_ptr<std::atomic<bool>>(&g_worker_cancel, [](std::atomic<bool>*) {});
  req.on_progress = [protocol_fd](double d, double t, const std::string& note) {
    write_line(protocol_fd, {{"type", "progress"}, {"done", d}, {"total", t}, {"note", note}});
  };
  req.on_log = [protocol_fd](LogLevel l, const std::string& m) {
    write_line(protocol_fd, {{"type", "log"}, {"level", level_name(l)}, {"message", m}});
  };
  PluginHost host;
  auto info = host.load(req.plugin.path);
  if (!info) {
    write_line(protocol_fd,
               {{"type", "result"}, {"ok", false}, {"error", info.status().message()}});
    return 1;
  }
  auto plugin = host.create(info.value());
  if (!plugin) {
    write_line(protocol_fd,
               {{"type", "result"}, {"ok", false}, {"error", plugin.status().message()}});
    return 1;
  }
  req.plugin = info.value();
  StepResult r = run_plugin(*plugin.value(), req);
  nlohmann::json out = {{"type", "result"},
                        {"ok", r.status.is_ok()},
                        {"error", r.status.message()},
                        {"outputs", nlohmann::json::array()},
                        {"metrics", nlohmann::json::array()},
                        {"triggers", nlohmann::json::array()}};
  for (const auto& o : r.outputs)
    out["outputs"].push_back({{"name", o.name},
                              {"kind", o.kind},
                              {"path", o.path.string()},
                              {"metadata", o.metadata_json}});
  for (const auto& m : r.metrics)
    out["metrics"].push_back(
        {{"name", m.name}, {"value", m.value}, {"step", m.step}, {"time", m.time}});
  for (const auto& t : r.triggers)
    out["triggers"].push_back(
        {{"kind", t.kind}, {"reason", t.reason}, {"payload", t.payload_json}});
  write_line(protocol_fd, out);
  plugin.value().reset();
  return r.status.is_ok() ? 0 : 1;
}

}  // namespace llmops::engine
