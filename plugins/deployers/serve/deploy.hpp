// Deployments of llmops-serve outside any pipeline run: the state file of each deployment name
// ($LLMOPS_HOME/deployments/<name>.json, LLMOPS_HOME defaulting to ./.llmops), starting a detached
// server (new session, so it outlives the step that started it), loading a new version into a
// running one (blue/green, or a canary share), rollback and stop. Used by the deployer/http
// plugin and by `llmops-deployments`. Torch-free.
//
// State file (format 1): {"format", "name", "state": running|stopped, "pid", "host", "port",
// "endpoint", "version", "model_dir", "model_digest", "tokenizer", "token_env", "canary":
// {"version", "model_dir", "percent"} | null, "log_dir", "server_log", "started_at", "updated_at",
// "history": [{"time", "action": start|load|canary|rollback|stop, "version", "model_dir",
// "model_digest", "canary_percent", "run_id", "step", "actor"}]}. The token itself is never stored.
// Thread safety: free functions; two deploys of one name at once are not coordinated.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "llmops/status.hpp"
#include "plugins/common/http_client.hpp"

namespace llmops::serve {

std::filesystem::path llmops_home();
std::filesystem::path deployments_dir();
Status check_deployment_name(const std::string& name);  // [A-Za-z0-9._-], 1 to 64 bytes

Result<nlohmann::json> read_deployment(const std::string& name);
Status write_deployment(const nlohmann::json& state);  // atomic (temp file + rename)
std::vector<nlohmann::json> list_deployments();

// The user behind a change: $USER, else $LOGNAME, else the password entry, else "uid:N".
std::string current_user();

// True while `pid` runs (a zombie child of ours is reaped and counts as gone).
bool process_alive(int64_t pid);
// True when the state says running, the process lives and its /health names this deployment.
bool deployment_running(const nlohmann::json& state);
// "Authorization: Bearer <token>" from the environment variable `token_env`, when it is set.
common::Headers auth_headers(const std::string& token_env);

// Starts `exe args...` in a new session with stdin from /dev/null and stdout/stderr appended to
// `log_file`; nothing else is inherited.
Result<pid_t> spawn_detached(const std::filesystem::path& exe, const std::vector<std::string>& args,
                             const std::filesystem::path& log_file);

// llmops-serve: $LLMOPS_SERVE_BIN, else `hint_dir`/llmops-serve, else beside this executable,
// else PATH.
std::filesystem::path find_serve_binary(const std::filesystem::path& hint_dir);

struct DeployRequest {
  std::string name;
  std::string model_dir;
  std::string model_digest;
  std::string version;
  std::string tokenizer;  // optional tokenizer.json
  std::string host = "127.0.0.1";
  int port = 0;            // 0: a free one
  int canary_percent = 0;  // 0 or 100: switch all traffic
  std::string token_env = "LLMOPS_SERVE_TOKEN";
  std::filesystem::path serve_binary;
  std::vector<std::string> server_args;  // extra llmops-serve flags (limits, --redact-pii)
  double wait_s = 120;                   // bound on start + load
  std::string action;                    // history label; default start/load/canary
  std::string actor;                     // who asked (e.g. "cli:rollback"); kept in the history
  std::string run_id, step;
  std::function<bool()> cancelled;  // polled while waiting
};

struct DeployResult {
  nlohmann::json state;
  bool started = false;  // a new server process, not a load into a running one
  double seconds = 0;    // start or load time
};

Result<DeployResult> deploy(const DeployRequest& request);
// Switches back to the version before the current one (or drops a canary).
// `actor` labels the history entry.
Result<DeployResult> rollback_deployment(const std::string& name, const std::string& actor = "");
// The canary takes all traffic (its model becomes the stable one). Needs a running server
// with a canary.
Result<DeployResult> promote_deployment(const std::string& name, const std::string& actor = "");
// SIGTERM, then SIGKILL after wait_s; the state file stays, marked stopped.
Status stop_deployment(const std::string& name, double wait_s = 30, const std::string& actor = "");

}  // namespace llmops::serve
