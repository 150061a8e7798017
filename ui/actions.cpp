// Actions from the web UI: cancel, resume or rerun a run; roll back or promote a deployment.
// Off unless the server was started with LLMOPS_UI_TOKEN in its environment; each needs that token
// as a bearer token and a same-origin request, runs the llmops command a person would type (argv,
// never a shell), and is recorded in the store's `actions` table with who asked and how it went.
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regex>

#include "base/command.hpp"
#include "ui/api.hpp"

namespace llmops::ui {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Equal secrets, in time that does not depend on where they differ.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char ha[SHA256_DIGEST_LENGTH], hb[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), ha);
  SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), hb);
  return CRYPTO_memcmp(ha, hb, sizeof ha) == 0;
}

// Starts argv in the background, in its own session, its output in `log`; returns its pid.
// Double fork: the command outlives this server and leaves no zombie behind.
Result<int64_t> spawn_detached(const std::vector<std::string>& argv, const fs::path& log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::string log_path = log.string();
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return Status::internal("pipe failed");
  const pid_t child = ::fork();
  if (child < 0) {
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    return Status::internal("fork failed");
  }
  if (child == 0) {
    ::setsid();
    const pid_t grandchild = ::fork();
    if (grandchild != 0) {
      int64_t pid = grandchild;
      (void)!::write(pipefd[1], &pid, sizeof pid);
      ::_exit(grandchild < 0 ? 1 : 0);
    }
    const int out = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
    if (in >= 0) ::dup2(in, 0);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  int64_t pid = -1;
  const bool got = ::read(pipefd[0], &pid, sizeof pid) == static_cast<ssize_t>(sizeof pid);
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!got || pid <= 0) return Status::internal("could not start " + argv[0]);
  return pid;
}

std::string param_text(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

}  // namespace

json Api::action(const Request& req, const std::string& kind, const std::string& target,
                 const std::string& verb) {
  static const std::set<std::string> kRunVerbs = {"cancel", "resume", "rerun"};
  static const std::set<std::string> kDeploymentVerbs = {"rollback", "promote"};
  if ((kind == "run" && !kRunVerbs.count(verb)) ||
      (kind == "deployment" && !kDeploymentVerbs.count(verb)))
    throw ApiError{404, "no_route", "no action '" + verb.substr(0, 32) + "' on a " + kind};
  if (o_.token.empty())
    throw ApiError{403, "read_only",
                   "this UI is read-only: start `llmops ui` with LLMOPS_UI_TOKEN set to allow "
                   "actions"};
  // A page from another origin must not be able to act, even with the token in hand.
  // (Host was checked already when listening on loopback.)
  const std::string origin = req.header("origin");
  if (!origin.empty() && origin != "http://" + req.header("host"))
    throw ApiError{403, "bad_origin", "actions are accepted only from this UI's own pages"};
  const std::string auth = req.header("authorization");
  if (auth.rfind("Bearer ", 0) != 0 || !same_secret(auth.substr(7), o_.token))
    throw ApiError{401, "unauthorized",
                   "missing or wrong token: send Authorization: Bearer <LLMOPS_UI_TOKEN>"};
  std::string actor = "ui";
  if (!req.body.empty()) {
    auto body = json::parse(req.body, nullptr, false);
    if (!body.is_object()) throw ApiError{400, "bad_query", "the body must be a JSON object"};
    if (body.contains("actor") && body["actor"].is_string()) actor = body["actor"];
    static const std::regex kActor("[A-Za-z0-9_.@-]{1,64}");
    if ((body.contains("actor") && !body["actor"].is_string()) || !std::regex_match(actor, kActor))
      throw ApiError{
          400, "bad_query", "actor: 1 to 64 letters, digits or _.@-", {{"param", "actor"}}};
  }

  std::vector<std::string> argv = {o_.llmops_bin};
  json detail = {{"via", "ui"}, {"peer", req.peer}};
  bool background = false;
  if (kind == "run") {
    const int64_t id = parse_id(target, "run");
    auto r = reader();
    auto run = r->get_run(id);
    if (!run) throw ApiError{404, "no_such_run", run.status().message()};
    if (verb == "cancel") {
      argv.insert(argv.end(), {"cancel", target, "--no-wait", "--json"});
    } else if (verb == "resume") {
      argv.insert(argv.end(), {"resume", target});
      background = true;
    } else {
      std::error_code ec;
      if (!fs::is_regular_file(run->pipeline_file, ec))
        throw ApiError{409, "no_pipeline_file",
                       "run " + target + "'s pipeline file " + run->pipeline_file +
                           " is gone: run it again by hand"};
      argv.insert(argv.end(), {"run", run->pipeline_file});
      auto params = json::parse(run->params_json, nullptr, false);
      if (params.is_object())
        for (auto it = params.begin(); it != params.end(); ++it)
          argv.insert(argv.end(), {"-p", it.key() + "=" + param_text(it.value())});
      detail["rerun_of"] = id;
      background = true;
    }
  } else {
    auto r = reader();
    bool known = false;
    if (auto deps = r->list_deployments())
      for (const auto& d : deps.value()) known = known || d.name == target;
    if (!known)
      throw ApiError{404, "no_such_deployment", "no deployment '" + target.substr(0, 80) + "'"};
    argv.insert(argv.end(), {"deployments", verb, target});
  }

  json result;
  std::string outcome;
  if (background) {
    const fs::path dir = o_.home / "ui" / "actions";
    std::error_code ec;
    fs::create_directories(dir, ec);
    const fs::path log = dir / (kind + "-" + target + "-" + verb + "-" +
                                std::to_string(static_cast<int64_t>(::time(nullptr))) + ".log");
    auto pid = spawn_detached(argv, log);
    if (!pid) throw ApiError{500, "internal", pid.status().message()};
    result = {{"pid", pid.value()}, {"log", log.string()}};
    outcome = "started (pid " + std::to_string(pid.value()) + ")";
  } else {
    auto out = base::run_command(argv, 120);
    if (!out) throw ApiError{500, "internal", out.status().message()};
    const bool ok = out->exit_code == 0;
    outcome = ok ? "done" : "failed: " + out->err.substr(0, 500);
    result = {{"exit_code", out->exit_code},
              {"output", out->out.substr(0, 4000)},
              {"error", out->err.substr(0, 4000)}};
    if (!ok) {
      auto w = store::Store::open(o_.home);
      if (w)
        (void)w.value()->record_action(
            {0, 0, actor, verb, kind + ":" + target, detail.dump(), outcome});
      throw ApiError{409, "action_failed",
                     verb + " " + target + " failed: " +
                         (out->err.empty() ? out->out.substr(0, 500) : out->err.substr(0, 500))};
    }
  }
  auto w = store::Store::open(o_.home);
  if (!w) throw ApiError{500, "store_error", w.status().message()};
  auto id =
      w.value()->record_action({0, 0, actor, verb, kind + ":" + target, detail.dump(), outcome});
  if (!id) throw ApiError{500, "store_error", id.status().message()};
  return {{"action", verb},
          {"target", kind + ":" + target},
          {"actor", actor},
          {"id", id.value()},
          {"result", result}};
}

}  // namespace llmops::ui
