// builtin/shell: runs a command given as an argument list (no shell unless asked for), with the
// step's inputs, outputs and parameters in the environment, its stdout and stderr in the step log,
// and its exit status as the result. Argument values are passed to execve as they are: nothing is
// ever joined into a shell string.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "llmops/plugin.hpp"

extern char** environ;

namespace {

// Minimal JSON readers for the two shapes this plugin takes (list of strings, map of strings):
// the SDK hands parameters over as JSON text, and a plugin carries no JSON library of its own.
bool parse_string(const std::string& s, size_t& i, std::string& out) {
  if (i >= s.size() || s[i] != '"') return false;
  ++i;
  out.clear();
  while (i < s.size() && s[i] != '"') {
    char c = s[i++];
    if (c == '\\' && i < s.size()) {
      char e = s[i++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': {
          if (i + 4 > s.size()) return false;
          unsigned cp = std::stoul(s.substr(i, 4), nullptr, 16);
          i += 4;
          if (cp < 0x80) out += char(cp);
          else if (cp < 0x800) out += char(0xC0 | (cp >> 6)), out += char(0x80 | (cp & 0x3F));
          else
            out += char(0xE0 | (cp >> 12)), out += char(0x80 | ((cp >> 6) & 0x3F)),
                out += char(0x80 | (cp & 0x3F));
          break;
        }
        default: out += e;
      }
    } else {
      out += c;
    }
  }
  if (i >= s.size()) return false;
  ++i;
  return true;
}

void skip_ws(const std::string& s, size_t& i) {
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
}

bool parse_string_list(const std::string& s, std::vector<std::string>& out) {
  size_t i = 0;
  skip_ws(s, i);
  if (i >= s.size() || s[i] != '[') return false;
  ++i;
  skip_ws(s, i);
  if (i < s.size() && s[i] == ']') return true;
  for (;;) {
    std::string v;
    skip_ws(s, i);
    if (!parse_string(s, i, v)) return false;
    out.push_back(v);
    skip_ws(s, i);
    if (i < s.size() && s[i] == ',') {
      ++i;
      continue;
    }
    return i < s.size() && s[i] == ']';
  }
}

bool parse_string_map(const std::string& s, std::map<std::string, std::string>& out) {
  size_t i = 0;
  skip_ws(s, i);
  if (s == "null") return true;
  if (i >= s.size() || s[i] != '{') return false;
  ++i;
  skip_ws(s, i);
  if (i < s.size() && s[i] == '}') return true;
  for (;;) {
    std::string k, v;
    skip_ws(s, i);
    if (!parse_string(s, i, k)) return false;
    skip_ws(s, i);
    if (i >= s.size() || s[i++] != ':') return false;
    skip_ws(s, i);
    if (!parse_string(s, i, v)) return false;
    out[k] = v;
    skip_ws(s, i);
    if (i < s.size() && s[i] == ',') {
      ++i;
      continue;
    }
    return i < s.size() && s[i] == '}';
  }
}

std::string env_name(const std::string& prefix, const std::string& name) {
  std::string out = prefix;
  for (char c : name) out += std::isalnum(static_cast<unsigned char>(c)) ? char(std::toupper(c)) : '_';
  return out;
}

class Shell : public llmops::Plugin {
 public:
  llmops::Status run(llmops::StepContext& ctx) override {
    std::vector<std::string> argv;
    const std::string cmd_json = ctx.param_json("command");
    if (!parse_string_list(cmd_json, argv) || argv.empty())
      return llmops::Status::invalid(
          "command must be a non-empty list of strings, e.g. [python3, train.py, --lr, '0.1']");
    if (ctx.param_bool("shell", false)) {
      if (argv.size() != 1)
        return llmops::Status::invalid("with shell: true, command must be a single string");
      argv = {"/bin/sh", "-c", argv[0]};
    }
    std::map<std::string, std::string> extra, outputs;
    if (!parse_string_map(ctx.param_json("env"), extra))
      return llmops::Status::invalid("env must be a map of strings");
    if (!parse_string_map(ctx.param_json("outputs"), outputs))
      return llmops::Status::invalid("outputs must be a map from output name to artifact kind");

    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    for (const auto& in : ctx.inputs()) env.push_back(env_name("LLMOPS_INPUT_", in.name) + "=" + in.path.string());
    for (const auto& [name, kind] : outputs)
      env.push_back(env_name("LLMOPS_OUTPUT_", name) + "=" + ctx.output(name, kind).string());
    env.push_back("LLMOPS_RUN_ID=" + ctx.run_id());
    env.push_back("LLMOPS_STEP=" + ctx.step_name());
    env.push_back("LLMOPS_SCRATCH=" + ctx.scratch_dir().string());
    for (const auto& [k, v] : extra) env.push_back(k + "=" + v);

    std::vector<char*> cargv, cenv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    for (auto& e : env) cenv.push_back(e.data());
    cenv.push_back(nullptr);

    int out_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0) return llmops::Status::internal("pipe failed");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 2);
    posix_spawn_file_actions_addchdir_np(&fa, ctx.scratch_dir().c_str());
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&fa);
    close(out_pipe[1]);
    if (rc != 0) {
      close(out_pipe[0]);
      return llmops::Status::invalid("cannot run '" + argv[0] + "': " + std::strerror(rc));
    }
    std::string pending;
    char buf[4096];
    bool term_sent = false;
    for (;;) {
      if (ctx.cancelled() && !term_sent) {
        kill(pid, SIGTERM);
        term_sent = true;
      }
      pollfd p{out_pipe[0], POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      const ssize_t n = read(out_pipe[0], buf, sizeof buf);
      if (n <= 0) break;
      pending.append(buf, size_t(n));
      size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos) {
        ctx.info(pending.substr(0, nl));
        pending.erase(0, nl + 1);
      }
    }
    if (!pending.empty()) ctx.info(pending);
    close(out_pipe[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status)) {
      const int code = WEXITSTATUS(status);
      ctx.metric("exit_code", code);
      if (code == 0) return llmops::Status::ok();
      return llmops::Status::internal(argv[0] + " exited with code " + std::to_string(code));
    }
    if (term_sent) return llmops::Status::cancelled(argv[0] + " stopped on cancellation");
    return llmops::Status::internal(argv[0] + " killed by signal " +
                                    std::to_string(WTERMSIG(status)));
  }
};

}  // namespace

constexpr char kParamsSchema[] = R"({"type":"object","additionalProperties":false,
  "required":["command"],
  "properties":{
    "command":{"type":"array","items":{"type":"string"},"minItems":1,
               "description":"Program and arguments, each its own item; no shell is involved"},
    "shell":{"type":"boolean","default":false,
             "description":"Run the single command string with /bin/sh -c, on purpose"},
    "env":{"type":"object","description":"Extra environment variables"},
    "outputs":{"type":"object","description":"Output name to artifact kind; each is a folder in $LLMOPS_OUTPUT_<NAME>"}}})";

LLMOPS_PLUGIN(Shell, "builtin", "shell", "1.0.0",
              "Runs a command; inputs and outputs come as LLMOPS_INPUT_*/LLMOPS_OUTPUT_* variables",
              kParamsSchema, "[]", "[]", "subprocess", llmops::kCacheable)
