#include "cli/scheduler_launcher.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "base/strings.hpp"

extern char** environ;

namespace fs = std::filesystem;

namespace llmops::cli {

namespace {

std::string param_text(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

// "ID@TIME" -> "ID @ TIME" for the log; the file name has no ':' or '/'.
std::string shown(const std::string& label) {
  std::string out = label;
  if (auto at = out.find('@'); at != std::string::npos) out.replace(at, 1, " @ ");
  return out;
}

std::string file_name(const std::string& label) {
  std::string out = label;
  for (char& c : out) {
    if (c == ':') c = '-';
    if (c == '/') c = '_';
  }
  return out + ".log";
}

}  // namespace

Result<engine::Launched> ProcessLauncher::start(const engine::LaunchRequest& r) {
  std::vector<std::string> args = {exe_.string(),      "run",     r.file.string(),
                                   "--trigger",        r.trigger, "--trigger-info",
                                   r.trigger_info_json};
  for (auto it = r.params.begin(); it != r.params.end(); ++it) {
    args.push_back("-p");
    args.push_back(it.key() + "=" + param_text(it.value()));
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) {
    std::string s = *e;
    if (base::starts_with(s, "LLMOPS_SCHEDULER_FIRE=")) continue;
    env_store.push_back(std::move(s));
  }
  env_store.push_back("LLMOPS_SCHEDULER_FIRE=" + r.token);
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  std::error_code ec;
  fs::create_directories(log_dir_, ec);
  const fs::path log_file = log_dir_ / file_name(r.label);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, exe_.c_str(), &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Status::internal("posix_spawn " + exe_.string() + ": " + std::strerror(rc));
  children_[pid] = r.label;
  return engine::Launched{pid, log_file.string()};
}

std::vector<std::string> ProcessLauncher::reap() {
  for (int status = 0;;) {
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    auto it = children_.find(pid);
    if (it == children_.end()) continue;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    finished_.push_back(shown(it->second) + " (exit " + std::to_string(code) + ")");
    children_.erase(it);
  }
  std::vector<std::string> out;
  out.swap(finished_);
  return out;
}

bool ProcessLauncher::alive(int64_t pid64, const std::string& token) {
  const pid_t pid = static_cast<pid_t>(pid64);
  if (pid <= 0) return false;
  if (children_.count(pid)) {
    // Ours: reap it if it ended (the finished line is kept for the next reap()).
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      finished_.push_back(shown(children_[pid]) + " (exit " + std::to_string(code) + ")");
      children_.erase(pid);
      return false;
    }
    return true;
  }
  // Started by an earlier scheduler: alive while that process (not a reuse of its pid) exists.
  // It runs as this user, so a pid we may not signal (EPERM) is someone else's now.
  if (::kill(pid, 0) != 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  if (!in) return true;  // no /proc, or unreadable: kill(pid, 0) decides (alive)
  const std::string env((std::istreambuf_iterator<char>(in)), {});
  const std::string want = "LLMOPS_SCHEDULER_FIRE=" + token;
  for (size_t start = 0; start < env.size();) {
    size_t end = env.find('\0', start);
    if (end == std::string::npos) end = env.size();
    if (env.compare(start, end - start, want) == 0) return true;
    start = end + 1;
  }
  return false;  // another process now, or a zombie (its environ reads empty)
}

bool ProcessLauncher::interrupt(int64_t pid, const std::string& token) {
  if (!alive(pid, token)) return false;
  return ::kill(static_cast<pid_t>(pid), SIGINT) == 0;
}

void ProcessLauncher::interrupt_all() {
  for (const auto& [pid, label] : children_) ::kill(pid, SIGINT);
}

}  // namespace llmops::cli
