// Running an executable plugin; see exec_plugin.hpp.
#include "engine/plugins/exec_plugin.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>

namespace fs = std::filesystem;
using nlohmann::json;

namespace llmops::engine {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxLine = size_t{1} << 20;     // one event
constexpr size_t kMaxResult = size_t{16} << 20;  // result.json
constexpr size_t kStderrTail = 2000;
constexpr int kMaxLogEvents = 20000, kMaxMetricEvents = 200000;

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

json parse_or(const std::string& text, json fallback) {
  auto j = json::parse(text, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

class ExecPlugin : public Plugin {
 public:
  explicit ExecPlugin(ExecManifest m) : m_(std::move(m)) {}
  Status run(StepContext& ctx) override;

 private:
  // Handles one event line; a line that is not an event is reported once and ignored.
  void on_event(StepContext& ctx, const std::string& line);
  void warn_once(StepContext& ctx, const std::string& key, const std::string& msg) {
    if (warned_.insert(key).second) ctx.log(LogLevel::kWarn, msg);
  }

  ExecManifest m_;
  bool hello_ = false;
  int hello_version_ = 0;
  int logs_ = 0, metrics_ = 0;
  std::set<std::string> warned_;
  std::map<std::string, std::string> artifact_meta_;
};

void ExecPlugin::on_event(StepContext& ctx, const std::string& line) try {
  auto j = json::parse(line, nullptr, false);
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    // Quoted as JSON (bytes that are not UTF-8 replaced): the program's text is arbitrary.
    warn_once(ctx, "bad-line",
              "step protocol: an event line is not a JSON object with a \"type\" (first: " +
                  json(line.substr(0, 120)).dump(-1, ' ', true, json::error_handler_t::replace) +
                  "); such lines are ignored");
    return;
  }
  const auto type = j["type"].get<std::string>();
  {
    if (type == "hello") {
      hello_ = true;
      const int64_t v = j.contains("protocol") && j["protocol"].is_number_integer()
                            ? j["protocol"].get<int64_t>()
                            : -1;
      hello_version_ = v >= 0 && v < 1000000 ? static_cast<int>(v) : -1;
    } else if (type == "log") {
      if (++logs_ > kMaxLogEvents) {
        warn_once(ctx, "logs", "step protocol: more than 20000 log events; the rest are dropped");
        return;
      }
      const auto lv = j.value("level", std::string("info"));
      const LogLevel level = lv == "debug"                     ? LogLevel::kDebug
                             : lv == "warn" || lv == "warning" ? LogLevel::kWarn
                             : lv == "error"                   ? LogLevel::kError
                                                               : LogLevel::kInfo;
      ctx.log(level, j.value("message", std::string()));
    } else if (type == "metric") {
      if (++metrics_ > kMaxMetricEvents) {
        warn_once(ctx, "metrics",
                  "step protocol: more than 200000 metric events; the rest are dropped");
        return;
      }
      if (!j.contains("name") || !j["name"].is_string() || !j.contains("value") ||
          !j["value"].is_number()) {
        warn_once(ctx, "metric",
                  "step protocol: a metric event needs a string name and a number value");
        return;
      }
      const int64_t step =
          j.contains("step") && j["step"].is_number_integer() ? j["step"].get<int64_t>() : -1;
      ctx.metric(j["name"].get<std::string>(), j["value"].get<double>(), step);
    } else if (type == "progress") {
      ctx.progress(j.value("done", 0.0), j.value("total", 0.0), j.value("note", std::string()));
    } else if (type == "artifact") {
      if (j.contains("output") && j["output"].is_string() && j.contains("metadata") &&
          j["metadata"].is_object())
        artifact_meta_[j["output"].get<std::string>()] =
            j["metadata"].dump(-1, ' ', false, json::error_handler_t::replace);
    } else if (type != "heartbeat") {
      warn_once(ctx, "type:" + type, "step protocol: unknown event type '" + type + "' ignored");
    }
  }
} catch (const std::exception& e) {
  warn_once(ctx, "bad-field",
            std::string("step protocol: an event could not be used (") + e.what() + ")");
}

std::string describe_exit(int st) {
  if (WIFSIGNALED(st))
    return "was killed by signal " + std::to_string(WTERMSIG(st)) + " (" + strsignal(WTERMSIG(st)) +
           ")";
  return "exited with status " + std::to_string(WEXITSTATUS(st));
}

Status ExecPlugin::run(StepContext& ctx) {
  hello_ = false;
  hello_version_ = logs_ = metrics_ = 0;
  warned_.clear();
  artifact_meta_.clear();
  const fs::path dir = ctx.scratch_dir() / "step-protocol";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir / "outputs", ec);
  const fs::path request = dir / "request.json", result = dir / "result.json";

  json inputs = json::object(), outputs = json::object();
  for (const auto& in : ctx.inputs())
    inputs[in.name] = {{"path", in.path.string()},
                       {"kind", in.kind},
                       {"digest", in.digest},
                       {"metadata", parse_or(in.metadata_json, json::object())}};
  for (const auto& o : m_.info.outputs) {
    fs::create_directories(dir / "outputs" / o.name, ec);
    outputs[o.name] = {{"path", (dir / "outputs" / o.name).string()}, {"kind", o.kind}};
  }
  // Parameters with the manifest schema's defaults filled in, so the program need not repeat them.
  json params = parse_or(ctx.params_json(), json::object());
  if (m_.info.params_schema.contains("properties") && params.is_object())
    for (const auto& [k, v] : m_.info.params_schema["properties"].items())
      if (!params.contains(k) && v.is_object() && v.contains("default")) params[k] = v["default"];
  const json req = {{"protocol", kStepProtocolVersion},
                    {"plugin", {{"name", m_.info.id}, {"version", m_.info.version}}},
                    {"run_id", ctx.run_id()},
                    {"step", ctx.step_name()},
                    {"attempt", ctx.attempt()},
                    {"params", params},
                    {"params_schema", m_.info.params_schema},
                    {"inputs", inputs},
                    {"outputs", outputs},
                    {"scratch", ctx.scratch_dir().string()},
                    {"result", result.string()},
                    {"events_fd", 3}};
  {
    std::ofstream f(request, std::ios::binary | std::ios::trunc);
    f << req.dump(2) << "\n";
    if (!f) return Status::internal("cannot write " + request.string());
  }

  // argv: a program in the folder or on PATH; no shell.
  std::vector<std::string> argv = m_.argv;
  if (argv[0].find('/') != std::string::npos && argv[0][0] != '/')
    argv[0] = (m_.dir / argv[0]).string();
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    if (kv.rfind("LLMOPS_STEP_", 0) == 0 || kv.rfind("LLMOPS_EVENTS_FD=", 0) == 0) continue;
    if (kv.rfind("PYTHONPATH=", 0) == 0) continue;
    env_strings.push_back(kv);
  }
  env_strings.push_back("LLMOPS_STEP_REQUEST=" + request.string());
  env_strings.push_back("LLMOPS_STEP_RESULT=" + result.string());
  env_strings.push_back("LLMOPS_EVENTS_FD=3");
  std::string pypath;
  const auto helpers = step_helpers_dir();
  if (!helpers.empty()) {
    pypath = helpers.string();
    env_strings.push_back("LLMOPS_STEP_HELPERS=" + helpers.string());
  }
  if (const char* p = std::getenv("PYTHONPATH"); p && *p)
    pypath += (pypath.empty() ? "" : ":") + std::string(p);
  if (!pypath.empty()) env_strings.push_back("PYTHONPATH=" + pypath);
  std::vector<char*> args, envp;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  int ev[2], er[2];
  if (::pipe2(ev, O_CLOEXEC) != 0 || ::pipe2(er, O_CLOEXEC) != 0)
    return Status::internal(std::string("pipe: ") + std::strerror(errno));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return Status::internal(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    const int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(er[1], 1);  // stdout too: the caller's stdout may be a --json answer
    ::dup2(er[1], 2);
    ::dup2(ev[1], 3);  // dup2 clears FD_CLOEXEC on the copy
    if (::chdir(m_.dir.c_str()) != 0) ::_exit(126);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (argv[0].find('/') != std::string::npos)
      ::execve(args[0], args.data(), envp.data());
    else
      ::execvpe(args[0], args.data(), envp.data());
    const char msg[] = "llmops: cannot start the plugin's program\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  ::close(ev[1]);
  ::close(er[1]);

  const auto started = Clock::now();
  std::string evbuf, errtail;
  bool skipping = false, ev_open = true, er_open = true, exited = false;
  int status = 0;
  std::optional<Clock::time_point> term_at, exit_at;
  std::string killed_why;
  bool hard_killed = false;  // SIGTERM was not enough
  auto terminate = [&](const std::string& why) {
    if (term_at) return;
    killed_why = why;
    ::kill(-pid, SIGTERM);
    term_at = Clock::now();
  };
  char buf[65536];
  while (true) {
    pollfd fds[2] = {{ev_open ? ev[0] : -1, POLLIN, 0}, {er_open ? er[0] : -1, POLLIN, 0}};
    // With both pipes closed only the exit is left to wait for: look often.
    if (ev_open || er_open)
      ::poll(fds, 2, 100);
    else
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    if (ev_open && (fds[0].revents & (POLLIN | POLLHUP))) {
      const ssize_t n = ::read(ev[0], buf, sizeof buf);
      if (n <= 0) {
        ev_open = false;
        if (!evbuf.empty() && !skipping) on_event(ctx, evbuf);  // a last line without newline
        evbuf.clear();
      } else {
        evbuf.append(buf, static_cast<size_t>(n));
        size_t start = 0;
        for (size_t nl; (nl = evbuf.find('\n', start)) != std::string::npos; start = nl + 1) {
          if (skipping) {
            skipping = false;
            continue;
          }
          on_event(ctx, evbuf.substr(start, nl - start));
        }
        evbuf.erase(0, start);
        if (evbuf.size() > kMaxLine) {
          warn_once(ctx, "long", "step protocol: an event line over 1 MiB was dropped");
          evbuf.clear();
          skipping = true;
        }
      }
    }
    if (er_open && (fds[1].revents & (POLLIN | POLLHUP))) {
      const ssize_t n = ::read(er[0], buf, sizeof buf);
      if (n <= 0) {
        er_open = false;
      } else {
        (void)!::write(2, buf, static_cast<size_t>(n));
        errtail.append(buf, static_cast<size_t>(n));
        if (errtail.size() > kStderrTail) errtail.erase(0, errtail.size() - kStderrTail);
      }
    }
    if (!exited && ::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      exit_at = Clock::now();
    }
    // The program is done when it exited and its pipes are drained; children that still hold
    // them get a second to finish writing, then the group is killed.
    if (exited && ((!ev_open && !er_open) || since(*exit_at) > 1.0)) break;
    if (!exited) {
      if (!hello_ && since(started) > m_.hello_timeout_s)
        terminate("it sent no hello within " +
                  std::to_string(static_cast<int>(m_.hello_timeout_s)) +
                  " s (is it speaking the step protocol on fd 3?)");
      if (ctx.cancelled()) terminate("the step was cancelled");
      if (term_at && !hard_killed && since(*term_at) > m_.grace_s) {
        ::kill(-pid, SIGKILL);
        hard_killed = true;
      }
    }
  }
  ::kill(-pid, SIGKILL);  // whatever it left behind in its group
  ::close(ev[0]);
  ::close(er[0]);

  auto tail = [&] {
    std::string t = errtail;
    while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
    const auto cut = t.size() > 600 ? t.size() - 600 : 0;
    return t.empty() ? std::string() : "; stderr ends: " + t.substr(cut);
  };
  const std::string who = m_.info.id + " (" + m_.argv[0] + ")";
  const std::string how = hard_killed ? " (it did not end within its " +
                                            std::to_string(static_cast<int>(m_.grace_s)) +
                                            " s grace after SIGTERM: killed)"
                                      : "";
  if (ctx.cancelled()) return Status::cancelled(who + " was stopped: the step was cancelled" + how);
  if (!killed_why.empty())
    return Status::internal(who + " was stopped: " + killed_why + how + tail());
  if (!hello_)
    return Status::internal(who + " " + describe_exit(status) +
                            " without a hello on the events channel (step protocol " +
                            std::to_string(kStepProtocolVersion) + ")" + tail());
  if (hello_version_ != kStepProtocolVersion)
    return Status::internal(who + " said hello with protocol " + std::to_string(hello_version_) +
                            "; this llmops speaks " + std::to_string(kStepProtocolVersion));

  json res;
  if (fs::exists(result, ec)) {
    if (fs::file_size(result, ec) > kMaxResult)
      return Status::internal(who + ": its result is larger than 16 MiB");
    std::ifstream in(result, std::ios::binary);
    res = json::parse(in, nullptr, false);
    if (!res.is_object() || !res.contains("status") || !res["status"].is_string())
      return Status::internal(who + ": its result " + result.string() +
                              " is not a JSON object with a \"status\"" + tail());
  }
  const bool exit_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (res.is_null())
    return Status::internal(who + " " + describe_exit(status) + " without writing a result" +
                            (exit_ok ? " (a step only succeeds with a result)" : "") + tail());
  const auto st = res["status"].get<std::string>();
  if (st == "failed") {
    const auto err = res.contains("error") ? res["error"] : json::object();
    auto field = [&](const char* k, const char* def) {
      return err.is_object() && err.contains(k) && err[k].is_string() ? err[k].get<std::string>()
                                                                      : std::string(def);
    };
    const auto msg = field("message", "failed");
    const auto code = field("code", "");
    if (exit_ok) return Status::internal(who + ": its result says failed but it exited 0: " + msg);
    if (code == "invalid_input") return Status::invalid(msg);
    if (code == "permanent") return Status::precondition(msg);
    return {StatusCode::kUnavailable, msg};  // retryable, or a code this llmops does not know
  }
  if (st != "ok")
    return Status::internal(who + ": result status must be ok or failed, got '" + st + "'");
  if (!exit_ok)
    return Status::internal(who + " " + describe_exit(status) + " but its result says ok" + tail());

  // Seal the outputs it produced: the declared ones it named in the result (or filled).
  const auto produced = res.value("outputs", json::object());
  for (const auto& o : m_.info.outputs) {
    const auto staged = dir / "outputs" / o.name;
    const bool named = produced.is_object() && produced.contains(o.name);
    const bool filled = fs::is_directory(staged, ec) && !fs::is_empty(staged, ec);
    if (!named && !filled) continue;
    if (!fs::is_directory(staged, ec))
      return Status::internal(who + ": output " + o.name + " must be the folder " +
                              staged.string() + ", filled with files");
    const auto target = ctx.output(o.name, o.kind);
    for (const auto& e : fs::directory_iterator(staged, ec)) {
      fs::rename(e.path(), target / e.path().filename(), ec);
      if (ec) return Status::internal("cannot move " + e.path().string() + ": " + ec.message());
    }
    std::string meta = artifact_meta_.count(o.name) ? artifact_meta_[o.name] : "";
    if (named && produced[o.name].is_object() && produced[o.name].contains("metadata"))
      meta = produced[o.name]["metadata"].dump();
    if (!meta.empty()) ctx.set_output_metadata(o.name, meta);
  }
  if (produced.is_object())
    for (const auto& [name, v] : produced.items()) {
      bool declared = false;
      for (const auto& o : m_.info.outputs) declared = declared || o.name == name;
      if (!declared)
        return Status::internal(who + ": its result names output '" + name +
                                "', which the manifest does not declare");
    }
  return Status::ok();
}

}  // namespace

std::shared_ptr<Plugin> make_exec_plugin(ExecManifest manifest) {
  return std::make_shared<ExecPlugin>(std::move(manifest));
}

fs::path step_helpers_dir() {
  if (const char* d = std::getenv("LLMOPS_PYTHON_DIR"); d && *d) return d;
  std::error_code ec;
  const auto exe = fs::read_symlink("/proc/self/exe", ec).parent_path();
  for (const auto& d : {exe / ".." / "python", exe / ".." / "share" / "llmops" / "python"})
    if (fs::exists(d / "llmops_step.py", ec)) return fs::weakly_canonical(d, ec);
  return {};
}

}  // namespace llmops::engine
