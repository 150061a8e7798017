// Runs the real `llmops` binary as a child process with its own LLMOPS_HOME.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

extern char** environ;

namespace llmops::testing {

namespace fs = std::filesystem;

struct CliResult {
  int exit_code = -1;
  std::string out, err;
  nlohmann::json json() const { return nlohmann::json::parse(out); }
};

inline fs::path llmops_binary() { return fs::path(LLMOPS_BINARY_DIR) / "cli" / "llmops"; }

class TempHome {
 public:
  TempHome() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("llmops-it-" + std::to_string(getpid()) + "-" +
                                         std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempHome() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path home() const { return path_ / "home"; }
  // Writes a file under the temp folder and returns its path.
  fs::path write(const std::string& name, const std::string& text) const {
    auto p = path_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p;
  }

 private:
  fs::path path_;
};

inline std::vector<std::string> child_env(const TempHome& t) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string s = *e;
    if (s.rfind("LLMOPS_HOME=", 0) == 0 || s.rfind("LLMOPS_PLUGIN_PATH=", 0) == 0) continue;
    env.push_back(s);
  }
  env.push_back("LLMOPS_HOME=" + t.home().string());
  env.push_back("NO_COLOR=1");
  return env;
}

// Starts llmops with args; stdout/stderr go to files in the temp folder. Returns the pid.
inline pid_t spawn_cli(const TempHome& t, const std::vector<std::string>& args,
                       const std::string& tag) {
  std::vector<std::string> argv_s{llmops_binary().string()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  auto env_s = child_env(t);
  std::vector<char*> envp;
  for (auto& s : env_s) envp.push_back(s.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const auto out = (t.path() / (tag + ".out")).string();
  const auto err = (t.path() / (tag + ".err")).string();
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data()) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline CliResult wait_cli(const TempHome& t, pid_t pid, const std::string& tag) {
  CliResult r;
  int status = 0;
  if (pid > 0 && waitpid(pid, &status, 0) == pid)
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(t.path() / (tag + ".out"));
  r.err = slurp(t.path() / (tag + ".err"));
  return r;
}

inline CliResult run_cli(const TempHome& t, const std::vector<std::string>& args) {
  static int n = 0;
  const std::string tag = "cmd" + std::to_string(n++);
  return wait_cli(t, spawn_cli(t, args, tag), tag);
}

// Polls `cond` every 20 ms until it holds or `timeout_s` passes; returns whether it held.
inline bool wait_until(const std::function<bool()>& cond, double timeout_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

}  // namespace llmops::testing
