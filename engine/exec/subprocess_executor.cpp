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
#include "engine/exec/step_worker.hpp"

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

// SIGTERM to the worker's process group once the attempt is cancelled, SIGKILL after the grace.
struct Stopper {
  pid_t pid;
  double grace_s;
  double term_sent_at = 0;
  bool killed = false;

  void check(const StepRequest& request) {
    if (request.cancel->load() && term_sent_at == 0) {
      kill(-pid, SIGTERM);
      term_sent_at = base::steady_now();
    }
    if (term_sent_at > 0 && !killed && base::steady_now() - term_sent_at > grace_s) {
      kill(-pid, SIGKILL);
      killed = true;
    }
  }
};

Status write_request(const StepRequest& request, const fs::path& file) {
  std::ofstream out(file);
  out << request_to_json(request).dump();
  if (!out) return Status::internal("cannot write " + file.string());
  return Status::ok();
}

// Reads protocol lines from `fd` until the worker closes it (it ended), stopping it on request.
void read_protocol(int fd, const StepRequest& request, Stopper& stop, StepResult& result,
                   bool* got_result) {
  std::string buffer;
  char chunk[4096];
  for (;;) {
    stop.check(request);
    pollfd pfd{fd, POLLIN, 0};
    const int pr = poll(&pfd, 1, 50);
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) continue;
    const ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the worker closed the pipe: it ended
    buffer.append(chunk, size_t(n));
    size_t nl;
    while ((nl = buffer.find('\n')) != std::string::npos) {
      auto j = nlohmann::json::parse(buffer.substr(0, nl), nullptr, false);
      buffer.erase(0, nl + 1);
      if (j.is_object()) apply_protocol_line(j, request, result, got_result);
    }
  }
}

// The worker's wait status once it exited, still honouring the kill deadline: from the fork
// server's report (`status_fd`), or on a pidfd, which becomes readable the moment a spawned
// worker exits (a fixed sleep here would cost more than a small step), or with a short back-off
// where pidfds are missing. `*lost`: the fork server ended without reporting this child.
int wait_exit(int status_fd, const StepRequest& request, Stopper& stop, bool* lost) {
  int status = 0;
  const int pidfd = status_fd >= 0 ? -1 : static_cast<int>(syscall(SYS_pidfd_open, stop.pid, 0));
  int backoff_us = 50;
  for (;;) {
    if (status_fd >= 0) {
      const int r = read_exit_status(status_fd, 0, &status);
      if (r != 0) {
        *lost = r < 0;
        break;
      }
    } else {
      const pid_t w = waitpid(stop.pid, &status, WNOHANG);
      if (w == stop.pid || (w < 0 && errno != EINTR)) break;
    }
    stop.check(request);
    if (status_fd >= 0 || pidfd >= 0) {
      pollfd p{status_fd >= 0 ? status_fd : pidfd, POLLIN, 0};
      poll(&p, 1, 50);
    } else {
      usleep(backoff_us);
      backoff_us = std::min(backoff_us * 2, 10000);
    }
  }
  if (pidfd >= 0) close(pidfd);
  return status;
}

}  // namespace

SubprocessExecutor::SubprocessExecutor(fs::path worker, double grace_s, bool fork_server)
    : worker_(std::move(worker)), grace_s_(grace_s) {
  if (fork_server) fork_ = std::make_unique<ForkServerClient>(worker_);
}

SubprocessExecutor::~SubprocessExecutor() = default;

Result<SubprocessExecutor::Worker> SubprocessExecutor::start_worker(const std::string& req,
                                                                    const std::string& log,
                                                                    int result_fd) {
  ForkServerClient::Child child;
  std::string fork_error;
  if (fork_ && fork_->spawn(req, log, result_fd, &child, &fork_error))
    return Worker{child.pid, child.status_fd};
  const std::string worker = worker_.string();
  const char* argv[] = {worker.c_str(), "exec-step", req.c_str(), nullptr};
  // posix_spawn (vfork-like) rather than fork: the engine may hold a large heap, and copying its
  // page tables per step would dominate the cost of a small step.
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_adddup2(&fa, result_fd, 3);  // clears close-on-exec on fd 3
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);  // its own group: kills reach children
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &fa, &attr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Status::internal("cannot start worker " + worker + ": " + strerror(rc));
  return Worker{pid, -1};
}

StepResult SubprocessExecutor::execute(const StepRequest& request) {
  StepResult result;
  std::error_code ec;
  fs::create_directories(request.work_dir, ec);
  fs::create_directories(request.log_path.parent_path(), ec);
  const fs::path req_file = request.work_dir / "request.json";
  if (result.status = write_request(request, req_file); !result.status.is_ok()) return result;
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    result.status = Status::internal(std::string("pipe: ") + strerror(errno));
    return result;
  }
  auto worker = start_worker(req_file.string(), request.log_path.string(), pipefd[1]);
  close(pipefd[1]);
  if (!worker) {
    close(pipefd[0]);
    result.status = worker.status();
    return result;
  }
  Stopper stop{worker->pid, grace_s_};
  bool got_result = false;
  read_protocol(pipefd[0], request, stop, result, &got_result);
  close(pipefd[0]);
  bool lost = false;
  int status = wait_exit(worker->status_fd, request, stop, &lost);
  if (worker->status_fd >= 0) close(worker->status_fd);
  if (lost && got_result) status = 0;  // it reported its result; only its exit code went missing
  kill(-worker->pid, SIGKILL);         // anything the plugin left behind in its group
  if (!got_result) {
    result.status = Status::internal(lost ? "worker ended without a result, and the fork server "
                                            "that started it is gone"
                                          : describe_exit(status));
  } else if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) && result.status.is_ok()) {
    result.status = Status::internal(describe_exit(status));
  }
  return result;
}

}  // namespace llmops::engine
