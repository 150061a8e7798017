// Deployment state files, detached servers, load, rollback and stop; see deploy.hpp.
#include "deploy.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "llmops/artifacts.hpp"

extern char** environ;

namespace llmops::serve {

using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
// The history's actions and keys are the ones a deployer reports in its `deployment` artifact.
namespace dep = llmops::deployment;

namespace {

std::string now_iso() {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

json history_entry(const std::string& action, const DeployRequest& r) {
  json e = {{"time", now_iso()},
            {dep::kAction, action},
            {dep::kVersion, r.version},
            {"model_dir", r.model_dir},
            {dep::kModelDigest, r.model_digest},
            {dep::kCanaryPercent, r.canary_percent},
            {"run_id", r.run_id},
            {"step", r.step}};
  if (!r.actor.empty()) e["actor"] = r.actor;
  return e;
}

// Reads the server's JSON lines after `offset` until "ready" (returns the port), an "error", the
// process dying, or the deadline.
Result<int> wait_ready(const fs::path& log, std::streamoff offset, pid_t pid, double wait_s,
                       const std::function<bool()>& cancelled) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(wait_s);
  int port = 0;
  std::string pending;
  while (Clock::now() < deadline) {
    if (cancelled && cancelled()) return Status::cancelled("cancelled while the server started");
    std::ifstream in(log, std::ios::binary);
    in.seekg(offset);
    std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    offset += static_cast<std::streamoff>(chunk.size());
    pending += chunk;
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      auto j = json::parse(pending.substr(0, nl), nullptr, false);
      pending.erase(0, nl + 1);
      if (!j.is_object() || !j.contains("event")) continue;
      if (j["event"] == "listening") port = j.value("port", 0);
      if (j["event"] == "error")
        return Status::internal("llmops-serve failed: " + j.value("message", std::string()));
      if (j["event"] == "ready") return j.value("port", port);
    }
    if (!process_alive(pid))
      return Status::internal("llmops-serve exited while starting; see " + log.string());
    sleep_ms(50);
  }
  return Status(
      StatusCode::kDeadlineExceeded,
      "llmops-serve was not ready within " + std::to_string(wait_s) + " s; see " + log.string());
}

}  // namespace

fs::path llmops_home() {
  const char* h = std::getenv("LLMOPS_HOME");
  return fs::absolute(h && *h ? fs::path(h) : fs::path(".llmops"));
}

fs::path deployments_dir() {
  return llmops_home() / "deployments";
}

Status check_deployment_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || name == "." || name == "..")
    return Status::invalid("a deployment name has 1 to 64 characters");
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return Status::invalid("deployment name '" + name +
                             "' may only hold letters, digits, '-', '_' and '.'");
  return Status::ok();
}

Result<json> read_deployment(const std::string& name) {
  if (auto s = check_deployment_name(name); !s) return s;
  const auto path = deployments_dir() / (name + ".json");
  std::ifstream in(path);
  if (!in) return Status::not_found("no deployment named '" + name + "' (" + path.string() + ")");
  auto j = json::parse(in, nullptr, false);
  if (!j.is_object()) return Status::internal(path.string() + " is not a JSON object");
  return j;
}

Status write_deployment(const json& state) {
  const std::string name = state.value("name", std::string());
  if (auto s = check_deployment_name(name); !s) return s;
  std::error_code ec;
  fs::create_directories(deployments_dir(), ec);
  const auto path = deployments_dir() / (name + ".json");
  const auto tmp = path.string() + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << state.dump(2) << "\n";
    if (!out) return Status::internal("cannot write " + tmp);
  }
  fs::rename(tmp, path, ec);
  if (ec) return Status::internal("cannot write " + path.string() + ": " + ec.message());
  return Status::ok();
}

std::vector<json> list_deployments() {
  std::vector<json> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(deployments_dir(), ec)) {
    if (e.path().extension() != ".json") continue;
    auto j = read_deployment(e.path().stem().string());
    if (j) out.push_back(std::move(*j));
  }
  std::sort(out.begin(), out.end(),
            [](const json& a, const json& b) { return a.value("name", "") < b.value("name", ""); });
  return out;
}

std::string current_user() {
  for (const char* var : {"USER", "LOGNAME"})
    if (const char* v = std::getenv(var); v && *v) return v;
  if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_name) return pw->pw_name;
  return "uid:" + std::to_string(::getuid());
}

bool process_alive(int64_t pid) {
  if (pid <= 0) return false;
  int status = 0;
  if (::waitpid(static_cast<pid_t>(pid), &status, WNOHANG) == pid) return false;  // our zombie
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return false;
  // Someone else's zombie (the server's parent has not reaped it yet) has exited all the same.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'Z';
}

common::Headers auth_headers(const std::string& token_env) {
  if (token_env.empty()) return {};
  const char* t = std::getenv(token_env.c_str());
  if (!t || !*t) return {};
  return {{"Authorization", std::string("Bearer ") + t}};
}

bool deployment_running(const json& state) {
  if (state.value("state", "") != "running" || !process_alive(state.value("pid", int64_t{0})))
    return false;
  auto r = common::http_request(state.value("host", "127.0.0.1"), state.value("port", 0), "GET",
                                "/health", "", {}, 5);
  if (!r) return false;
  auto j = json::parse(r->body, nullptr, false);
  return j.is_object() && j.value("model", "") == state.value("name", "");
}

Result<pid_t> spawn_detached(const fs::path& exe, const std::vector<std::string>& args,
                             const fs::path& log_file) {
  std::vector<std::string> argv_s{exe.string()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  // A new session: no controlling terminal, and the engine's process group signals miss it.
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, exe.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Status::internal("cannot start " + exe.string() + ": " + std::strerror(rc));
  return pid;
}

fs::path find_serve_binary(const fs::path& hint_dir) {
  if (const char* b = std::getenv("LLMOPS_SERVE_BIN"); b && *b) return b;
  if (!hint_dir.empty() && ::access((hint_dir / "llmops-serve").c_str(), X_OK) == 0)
    return hint_dir / "llmops-serve";
  // llmops-deployments (and any tool built beside the plugins) finds it next to itself.
  std::error_code ec;
  const auto self = fs::read_symlink("/proc/self/exe", ec).parent_path() / "llmops-serve";
  if (!ec && ::access(self.c_str(), X_OK) == 0) return self;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    std::string dir;
    while (std::getline(ss, dir, ':'))
      if (!dir.empty() && ::access((fs::path(dir) / "llmops-serve").c_str(), X_OK) == 0)
        return fs::path(dir) / "llmops-serve";
  }
  return "llmops-serve";
}

Result<DeployResult> deploy(const DeployRequest& r) {
  if (auto s = check_deployment_name(r.name); !s) return s;
  if (r.canary_percent < 0 || r.canary_percent > 100)
    return Status::invalid("canary_percent must be from 0 to 100");
  const auto t0 = Clock::now();
  DeployResult out;
  auto existing = read_deployment(r.name);
  if (existing && deployment_running(*existing)) {
    json& st = *existing;
    json body = {
        {"model_dir", r.model_dir}, {"version", r.version}, {"canary_percent", r.canary_percent}};
    if (!r.tokenizer.empty()) body["tokenizer"] = r.tokenizer;
    auto res = common::http_request(st.value("host", "127.0.0.1"), st.value("port", 0), "POST",
                                    "/admin/load", body.dump(),
                                    auth_headers(st.value("token_env", "")), r.wait_s);
    if (!res) return res.status();
    if (res->status != 200)
      return Status::internal("the running server refused the new version (HTTP " +
                              std::to_string(res->status) + "): " + res->body);
    const bool canary = r.canary_percent > 0 && r.canary_percent < 100;
    if (canary) {
      st["canary"] = {{"version", r.version},
                      {"model_dir", r.model_dir},
                      {"model_digest", r.model_digest},
                      {"percent", r.canary_percent}};
    } else {
      st["version"] = r.version;
      st["model_dir"] = r.model_dir;
      st["model_digest"] = r.model_digest;
      st["canary"] = nullptr;
      if (!r.tokenizer.empty()) st["tokenizer"] = r.tokenizer;
    }
    st["updated_at"] = now_iso();
    st["history"].push_back(
        history_entry(r.action.empty() ? (canary ? dep::kCanary : dep::kLoad) : r.action, r));
    if (auto s = write_deployment(st); !s) return s;
    out.state = st;
    out.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return out;
  }

  // No server for this name: start one.
  const auto dir = deployments_dir() / r.name;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::internal("cannot create " + dir.string() + ": " + ec.message());
  const auto server_log = dir / "server.log";
  std::vector<std::string> args = {"--model",     r.model_dir,
                                   "--host",      r.host,
                                   "--port",      std::to_string(r.port),
                                   "--name",      r.name,
                                   "--version",   r.version,
                                   "--token-env", r.token_env,
                                   "--log",       (dir / "logs").string()};
  if (!r.tokenizer.empty()) args.insert(args.end(), {"--tokenizer", r.tokenizer});
  args.insert(args.end(), r.server_args.begin(), r.server_args.end());
  const auto offset =
      fs::exists(server_log) ? static_cast<std::streamoff>(fs::file_size(server_log)) : 0;
  const auto exe = r.serve_binary.empty() ? find_serve_binary({}) : r.serve_binary;
  auto pid = spawn_detached(exe, args, server_log);
  if (!pid) return pid.status();
  auto port = wait_ready(server_log, offset, *pid, r.wait_s, r.cancelled);
  if (!port) {
    ::kill(*pid, SIGKILL);
    process_alive(*pid);  // reap
    return port.status();
  }
  json st = existing ? *existing : json::object();
  if (!st.contains("history") || !st["history"].is_array()) st["history"] = json::array();
  st["format"] = 1;
  st["name"] = r.name;
  st["state"] = "running";
  st["pid"] = *pid;
  st["host"] = r.host;
  st["port"] = *port;
  st["endpoint"] = "http://" + r.host + ":" + std::to_string(*port) + "/v1";
  st["version"] = r.version;
  st["model_dir"] = r.model_dir;
  st["model_digest"] = r.model_digest;
  st["tokenizer"] = r.tokenizer;
  st["token_env"] = r.token_env;
  st["canary"] = nullptr;
  st["log_dir"] = (dir / "logs").string();
  st["server_log"] = server_log.string();
  st["server_args"] = r.server_args;
  st["started_at"] = st["updated_at"] = now_iso();
  st["history"].push_back(history_entry(r.action.empty() ? dep::kStart : r.action, r));
  if (auto s = write_deployment(st); !s) return s;
  out.state = st;
  out.started = true;
  out.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return out;
}

namespace {

// A change to a deployment's model that keeps its server as it is (token, tokenizer, limits).
DeployRequest change_request(const std::string& name, const json& st, const char* action,
                             const std::string& actor) {
  DeployRequest r;
  r.name = name;
  r.token_env = st.value("token_env", "LLMOPS_SERVE_TOKEN");
  r.tokenizer = st.value("tokenizer", "");
  r.action = action;
  r.actor = actor;
  r.server_args = st.value("server_args", std::vector<std::string>{});
  return r;
}

}  // namespace

Result<DeployResult> rollback_deployment(const std::string& name, const std::string& actor) {
  auto st = read_deployment(name);
  if (!st) return st.status();
  DeployRequest r = change_request(name, *st, dep::kRollback, actor);
  if (!(*st)["canary"].is_null()) {
    // Undo the canary: everything back on the stable version.
    r.model_dir = st->value("model_dir", "");
    r.version = st->value("version", "");
    r.model_digest = st->value("model_digest", "");
  } else {
    const std::string current = st->value("version", "");
    const auto& h = (*st)["history"];
    bool found = false;
    for (auto it = h.rbegin(); it != h.rend(); ++it) {
      const auto& e = *it;
      const int p = e.value(dep::kCanaryPercent, 0);
      if (e.value(dep::kAction, "") == dep::kStop || (p > 0 && p < 100)) continue;
      if (e.value("version", "") == current || e.value("model_dir", "").empty()) continue;
      r.model_dir = e.value("model_dir", "");
      r.version = e.value("version", "");
      r.model_digest = e.value("model_digest", "");
      found = true;
      break;
    }
    if (!found) return Status::precondition("deployment '" + name + "' has no earlier version");
  }
  if (!deployment_running(*st)) {
    // A stopped deployment comes back up on the earlier version, where it was.
    r.host = st->value("host", "127.0.0.1");
    r.port = st->value("port", 0);
    r.serve_binary = find_serve_binary({});
  }
  return deploy(r);
}

Result<DeployResult> promote_deployment(const std::string& name, const std::string& actor) {
  auto st = read_deployment(name);
  if (!st) return st.status();
  const auto& canary = (*st)["canary"];
  if (!canary.is_object())
    return Status::precondition("deployment '" + name + "' has no canary to promote");
  if (!deployment_running(*st))
    return Status::precondition("deployment '" + name +
                                "' is not running: roll it back or deploy again");
  DeployRequest r = change_request(name, *st, dep::kPromote, actor);
  r.model_dir = canary.value("model_dir", "");
  r.version = canary.value("version", "");
  r.model_digest = canary.value("model_digest", "");
  return deploy(r);
}

Status stop_deployment(const std::string& name, double wait_s, const std::string& actor) {
  auto st = read_deployment(name);
  if (!st) return st.status();
  const int64_t pid = st->value("pid", int64_t{0});
  std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline");
  const std::string cmd((std::istreambuf_iterator<char>(cmdline)),
                        std::istreambuf_iterator<char>());
  const bool ours = process_alive(pid) && cmd.find("llmops-serve") != std::string::npos &&
                    cmd.find(name) != std::string::npos;
  if (deployment_running(*st) || ours) {
    ::kill(static_cast<pid_t>(pid), SIGTERM);
    const auto deadline = Clock::now() + std::chrono::duration<double>(wait_s);
    while (process_alive(pid) && Clock::now() < deadline) sleep_ms(20);
    if (process_alive(pid)) {
      ::kill(static_cast<pid_t>(pid), SIGKILL);
      while (process_alive(pid)) sleep_ms(20);  // SIGKILL cannot be refused
    }
  }
  (*st)["state"] = "stopped";
  (*st)["updated_at"] = now_iso();
  json entry = {
      {"time", now_iso()}, {dep::kAction, dep::kStop}, {"version", st->value("version", "")}};
  if (!actor.empty()) entry["actor"] = actor;
  (*st)["history"].push_back(std::move(entry));
  return write_deployment(*st);
}

}  // namespace llmops::serve
