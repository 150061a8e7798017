// The fork server: a warm `llmops fork-server` process that forks one child per step attempt, so
// the subprocess executor does not pay for exec, dynamic linking and static initialisation on
// every step. Each step still runs in its own process (its own process group), so a crash, abort,
// exit(), out-of-memory kill or hang stays confined to that step, as with a fresh worker.
//
// Protocol (SOCK_SEQPACKET, one message each):
//   engine -> server, on the control socket: "<request file>\n<log file>" with two descriptors
//     (SCM_RIGHTS): the write end of the step's result pipe (becomes fd 3 in the child) and the
//     server's end of the step's status socket.
//   server -> engine, on the status socket: "pid <pid>" once forked (or "error <message>"), then
//     "exit <wait status>" when the child has ended; then the server closes it.
// The child runs exec_step_main(request, 3) with stdin on /dev/null and stdout/stderr appended to
// the log. The server never loads a plugin itself. When the control socket closes (the engine
// ended or was killed) it kills the children still running (abandoned steps) and exits.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

namespace llmops::engine {

// The server side (`llmops fork-server`, control socket on `control_fd`). Returns the exit code.
int fork_server_main(int control_fd);

// The engine side: starts the server lazily and forks steps through it.
class ForkServerClient {
 public:
  explicit ForkServerClient(std::filesystem::path worker) : worker_(std::move(worker)) {}
  ~ForkServerClient();

  struct Child {
    pid_t pid = -1;
    int status_fd = -1;  // receives "exit <status>"; the caller closes it
  };
  // Forks a child running the request with `result_write_fd` as its fd 3. False (with `error`)
  // when the server is unavailable; the caller then starts a worker the plain way.
  bool spawn(const std::string& request_file, const std::string& log_file, int result_write_fd,
             Child* child, std::string* error);

 private:
  bool start_locked(std::string* error);

  std::filesystem::path worker_;
  std::mutex mu_;
  int control_fd_ = -1;
  pid_t server_pid_ = -1;
  bool failed_ = false;  // could not start: do not try again
};

// Reads "exit <status>" from a status socket, waiting at most timeout_ms (-1: no limit).
// Returns 1 with *status set, 0 on timeout, -1 when the socket closed without a status.
int read_exit_status(int status_fd, int timeout_ms, int* status);

}  // namespace llmops::engine
