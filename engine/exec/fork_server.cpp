#include "engine/exec/fork_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>

#include "engine/exec/step_worker.hpp"

extern char** environ;

namespace llmops::engine {

namespace {

// Sends `text` with up to two descriptors attached.
bool send_with_fds(int sock, const std::string& text, const int* fds, int nfds) {
  iovec iov{const_cast<char*>(text.data()), text.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  if (nfds > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
  }
  for (;;) {
    const ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n >= 0) return size_t(n) == text.size();
    if (errno != EINTR) return false;
  }
}

// Receives one message and up to two descriptors. -1 on error, 0 on end of stream.
ssize_t recv_with_fds(int sock, std::string* text, int* fds, int* nfds) {
  char buf[8192];
  iovec iov{buf, sizeof buf};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  *nfds = 0;
  if (n <= 0) return n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const int count = int((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (*nfds < 2)
        fds[(*nfds)++] = fd;
      else
        close(fd);
    }
  }
  text->assign(buf, size_t(n));
  return n;
}

// In the forked child: becomes the step's worker. Never returns.
[[noreturn]] void run_child(const std::string& request, const std::string& log, int result_fd,
                            const std::map<pid_t, int>& others, int control_fd, int signal_fd) {
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  signal(SIGINT, SIG_DFL);
  close(control_fd);
  close(signal_fd);
  for (const auto& [pid, fd] : others) close(fd);
  setpgid(0, 0);  // its own group: the engine's kill(-pid) reaches whatever it starts
  prctl(PR_SET_NAME, "llmops-step");  // tells workers from the server in ps and top
  const int in = open("/dev/null", O_RDONLY);
  const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (in >= 0) dup2(in, 0);
  if (out >= 0) {
    dup2(out, 1);
    dup2(out, 2);
  }
  if (dup2(result_fd, 3) < 0) _exit(2);
  for (int fd : {in, out, result_fd})
    if (fd > 3) close(fd);
  const int rc = exec_step_main(request, 3);
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  _exit(rc);  // skip the server's static destructors
}

}  // namespace

int fork_server_main(int control_fd) {
  signal(SIGINT, SIG_IGN);  // Ctrl-C is the engine's to handle; it cancels steps itself
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, nullptr);
  const int signal_fd = signalfd(-1, &chld, SFD_CLOEXEC);
  if (signal_fd < 0) return 1;
  std::map<pid_t, int> children;  // pid -> status socket
  bool accepting = true;
  while (accepting || !children.empty()) {
    pollfd p[2] = {{accepting ? control_fd : -1, POLLIN, 0}, {signal_fd, POLLIN, 0}};
    if (poll(p, 2, -1) < 0 && errno != EINTR) return 1;
    if (p[1].revents & POLLIN) {
      signalfd_siginfo si;
      (void)!read(signal_fd, &si, sizeof si);  // SIGCHLDs coalesce: reap every ended child below
      int status = 0;
      pid_t pid;
      while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        auto it = children.find(pid);
        if (it == children.end()) continue;
        send_with_fds(it->second, "exit " + std::to_string(status), nullptr, 0);
        close(it->second);
        children.erase(it);
      }
    }
    if (accepting && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      std::string text;
      int fds[2], nfds = 0;
      const ssize_t n = recv_with_fds(control_fd, &text, fds, &nfds);
      if (n <= 0) {
        // The engine is gone (finished, or killed): a step still running here was abandoned and
        // nobody will read its result, so end it (a resume runs it again), report, and exit.
        accepting = false;
        for (int i = 0; i < nfds; ++i) close(fds[i]);
        for (const auto& [pid, fd] : children) kill(-pid, SIGKILL);
        continue;
      }
      if (nfds != 2) {
        for (int i = 0; i < nfds; ++i) close(fds[i]);
        continue;
      }
      const int result_fd = fds[0], status_fd = fds[1];
      const size_t nl = text.find('\n');
      const std::string request = text.substr(0, nl);
      const std::string log = nl == std::string::npos ? "/dev/null" : text.substr(nl + 1);
      const pid_t pid = fork();
      if (pid == 0) run_child(request, log, result_fd, children, control_fd, signal_fd);
      close(result_fd);
      if (pid > 0) setpgid(pid, pid);  // as the child does: the group exists before we answer
      if (pid < 0) {
        send_with_fds(status_fd, std::string("error fork: ") + strerror(errno), nullptr, 0);
        close(status_fd);
        continue;
      }
      send_with_fds(status_fd, "pid " + std::to_string(pid), nullptr, 0);
      children[pid] = status_fd;
    }
  }
  return 0;
}

ForkServerClient::~ForkServerClient() {
  if (control_fd_ >= 0) close(control_fd_);  // the server exits once its children are reported
  if (server_pid_ > 0) {
    int status;
    // It exits at once unless steps are still running (an abandoned step): do not wait for those.
    for (int i = 0; i < 100 && waitpid(server_pid_, &status, WNOHANG) == 0; ++i) usleep(1000);
  }
}

bool ForkServerClient::start_locked(std::string* error) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    *error = std::string("socketpair: ") + strerror(errno);
    return false;
  }
  const std::string worker = worker_.string();
  const char* argv[] = {worker.c_str(), "fork-server", nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  const int rc =
      posix_spawn(&server_pid_, argv[0], &fa, &attr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(sv[1]);
  if (rc != 0) {
    close(sv[0]);
    server_pid_ = -1;
    *error = "cannot start " + worker + " fork-server: " + strerror(rc);
    return false;
  }
  control_fd_ = sv[0];
  return true;
}

bool ForkServerClient::spawn(const std::string& request_file, const std::string& log_file,
                             int result_write_fd, Child* child, std::string* error) {
  int st[2];
  {
    std::lock_guard lock(mu_);
    if (failed_) return false;
    if (control_fd_ < 0 && !start_locked(error)) {
      failed_ = true;
      return false;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, st) != 0) {
      *error = std::string("socketpair: ") + strerror(errno);
      return false;
    }
    const int fds[2] = {result_write_fd, st[1]};
    if (!send_with_fds(control_fd_, request_file + "\n" + log_file, fds, 2)) {
      *error = std::string("fork server: ") + strerror(errno);
      failed_ = true;  // it died: the plain way from now on
      close(st[0]);
      close(st[1]);
      return false;
    }
    close(st[1]);
  }
  pollfd p{st[0], POLLIN, 0};
  std::string text;
  int fds[2], nfds = 0;
  if (poll(&p, 1, 10000) <= 0 || recv_with_fds(st[0], &text, fds, &nfds) <= 0 ||
      text.rfind("pid ", 0) != 0) {
    for (int i = 0; i < nfds; ++i) close(fds[i]);
    *error = text.empty() ? "fork server did not answer" : text;
    close(st[0]);
    return false;
  }
  child->pid = pid_t(std::atoi(text.c_str() + 4));
  child->status_fd = st[0];
  return true;
}

int read_exit_status(int status_fd, int timeout_ms, int* status) {
  pollfd p{status_fd, POLLIN, 0};
  const int pr = poll(&p, 1, timeout_ms);
  if (pr < 0) return errno == EINTR ? 0 : -1;
  if (pr == 0) return 0;
  std::string text;
  int fds[2], nfds = 0;
  const ssize_t n = recv_with_fds(status_fd, &text, fds, &nfds);
  for (int i = 0; i < nfds; ++i) close(fds[i]);
  if (n <= 0 || text.rfind("exit ", 0) != 0) return -1;
  *status = std::atoi(text.c_str() + 5);
  return 1;
}

}  // namespace llmops::engine
