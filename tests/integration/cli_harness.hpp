// Runs the real `llmops` binary as a child process with its own LLMOPS_HOME.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sqlite3.h>
#include <nlohmann/json.hpp>

extern char** environ;

namespace llmops::testing {

namespace fs = std::filesystem;

struct CliResult {
  int exit_code = -1;
  std::string out, err;
  nlohmann::json json() const { return nlohmann::json::parse(out); }
};

inline fs::path llmops_binary() {
  return fs::path(LLMOPS_BINARY_DIR) / "cli" / "llmops";
}

class TempHome {
 public:
  TempHome() {
    std::random_device rd;
    path_ = fs::temp_directory_path() /
            ("llmops-it-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
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
                       const std::string& tag, const std::vector<std::string>& extra_env = {}) {
  std::vector<std::string> argv_s{llmops_binary().string()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  // An extra entry replaces the inherited one of the same name (getenv finds the first).
  auto env_s = child_env(t);
  for (const auto& e : extra_env) {
    const std::string name = e.substr(0, e.find('=') + 1);
    env_s.erase(std::remove_if(env_s.begin(), env_s.end(),
                               [&](const std::string& s) { return s.rfind(name, 0) == 0; }),
                env_s.end());
    env_s.push_back(e);
  }
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

// run_cli with extra environment entries ("NAME=value").
inline CliResult run_cli_env(const TempHome& t, const std::vector<std::string>& args,
                             const std::vector<std::string>& env) {
  static int n = 0;
  const std::string tag = "env" + std::to_string(n++);
  return wait_cli(t, spawn_cli(t, args, tag, env), tag);
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

// Waits for a spawned llmops at most `timeout_s`; past that it is killed (SIGKILL) and
// `*timed_out` is set. Never hangs the suite on a stuck child.
inline CliResult wait_cli_for(const TempHome& t, pid_t pid, const std::string& tag,
                              double timeout_s, bool* timed_out = nullptr) {
  CliResult r;
  int status = 0;
  bool reaped = false;
  const bool in_time = wait_until(
      [&] {
        if (pid <= 0) return true;
        reaped = waitpid(pid, &status, WNOHANG) == pid;
        return reaped;
      },
      timeout_s);
  if (!in_time && pid > 0) {
    kill(pid, SIGKILL);
    reaped = waitpid(pid, &status, 0) == pid;
  }
  if (timed_out) *timed_out = !in_time;
  if (reaped) r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(t.path() / (tag + ".out"));
  r.err = slurp(t.path() / (tag + ".err"));
  return r;
}

// `llmops show RUN --json`, parsed (null when the command fails).
inline nlohmann::json show_json(const TempHome& t, int64_t run) {
  auto r = run_cli(t, {"show", std::to_string(run), "--json"});
  if (r.exit_code != 0) return nullptr;
  return nlohmann::json::parse(r.out, nullptr, false);
}

// The entry of `steps` in a `show --json` document named `step` (null when absent).
inline nlohmann::json step_of(const nlohmann::json& show, const std::string& step) {
  if (!show.is_object() || !show.contains("steps")) return nullptr;
  for (const auto& s : show["steps"])
    if (s.value("step", "") == step) return s;
  return nullptr;
}

// How many executions of `step` in a `show --json` document are in `state`.
inline int executions_in(const nlohmann::json& show, const std::string& step,
                         const std::string& state) {
  int n = 0;
  auto s = step_of(show, step);
  if (s.is_null()) return 0;
  for (const auto& e : s["executions"]) n += e.value("state", "") == state;
  return n;
}

// The output artifact `role` of the last succeeded or cached execution of `step` (null if none).
inline nlohmann::json output_of(const nlohmann::json& show, const std::string& step,
                                const std::string& role = "out") {
  auto s = step_of(show, step);
  if (s.is_null()) return nullptr;
  nlohmann::json found;
  for (const auto& e : s["executions"])
    if ((e["state"] == "succeeded" || e["state"] == "cached") && e["outputs"].contains(role))
      found = e["outputs"][role];
  return found;
}

// The content of an artifact in the blob store: a file, or a folder's files in name order.
inline std::string read_artifact(const fs::path& uri) {
  if (!fs::is_directory(uri)) return slurp(uri);
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(uri))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::string out;
  for (const auto& f : files) out += slurp(f);
  return out;
}

// Runs one query on a database with the sqlite3 C API (read-only unless `write`); rows of text.
inline std::vector<std::vector<std::string>> sql(const fs::path& db, const std::string& query,
                                                 bool write = false) {
  std::vector<std::vector<std::string>> rows;
  sqlite3* h = nullptr;
  const int flags = write ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
  if (sqlite3_open_v2(db.c_str(), &h, flags, nullptr) != SQLITE_OK) {
    sqlite3_close(h);
    throw std::runtime_error("cannot open " + db.string());
  }
  sqlite3_busy_timeout(h, 5000);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(h, query.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    const std::string msg = sqlite3_errmsg(h);
    sqlite3_close(h);
    throw std::runtime_error("bad query " + query + ": " + msg);
  }
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int i = 0; i < sqlite3_column_count(st); ++i) {
      const auto* txt = sqlite3_column_text(st, i);
      row.push_back(txt ? reinterpret_cast<const char*>(txt) : "");
    }
    rows.push_back(std::move(row));
  }
  const std::string msg = sqlite3_errmsg(h);
  sqlite3_finalize(st);
  sqlite3_close(h);
  if (rc != SQLITE_DONE) throw std::runtime_error("query " + query + " failed: " + msg);
  return rows;
}

inline fs::path db_path(const TempHome& t) {
  return t.home() / "llmops.db";
}

// The first column of the first row of `query` on the store of `t`: "" when there is no row, or
// no database yet, or it cannot be read yet (made but not migrated).
inline std::string sql_one(const TempHome& t, const std::string& query) {
  if (!fs::exists(db_path(t))) return "";
  try {
    auto rows = sql(db_path(t), query);
    return rows.empty() ? "" : rows[0][0];
  } catch (const std::exception&) {
    return "";
  }
}

// The state of `step` in run `run`, read straight from the database ("" while there is none).
inline std::string step_state(const TempHome& t, const std::string& step, int64_t run = 1) {
  return sql_one(t, "SELECT state FROM run_steps WHERE run_id = " + std::to_string(run) +
                        " AND step = '" + step + "'");
}

// a -> b (sleeps `seconds`) -> c: a run to kill, cancel or starve while b runs.
inline std::string slow_chain(const std::string& name, int seconds = 60) {
  return "apiVersion: llmops/v1\nkind: Pipeline\nname: " + name + R"(
steps:
  a:
    uses: testing/write
    with: {text: alpha}
  b:
    uses: testing/sleep
    needs: [a]
    with: {seconds: )" +
         std::to_string(seconds) + R"(}
  c:
    uses: testing/concat
    needs: [b]
    inputs: {x: "${{ steps.a.outputs.out }}"}
)";
}

}  // namespace llmops::testing
