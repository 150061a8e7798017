// deployer/http: serves a model through llmops-serve, the OpenAI-compatible server, and keeps it
// running after the pipeline ends. The first deploy of a name starts a detached server; later
// deploys load the new version into the running one (blue/green, or a canary share) instead of
// starting a second server. Writes output `deployment` (deployment.json: name, endpoint, pid, port,
// model digest, version, action, actor "run:<id>:<step>", user, from_version, to_version) and the
// same JSON as its metadata, which the engine copies into the store's deployment history.
#include <dlfcn.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "deploy.hpp"
#include "llmops/artifacts.hpp"
#include "llmops/plugin.hpp"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using namespace llmops;

// The folder this plugin was loaded from: llmops-serve is built beside it.
fs::path plugin_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&plugin_dir), &info) && info.dli_fname)
    return fs::path(info.dli_fname).parent_path();
  return {};
}

class HttpDeployer : public Plugin {
 public:
  Status run(StepContext& ctx) override {
    auto model = ctx.input("model");
    if (!model) return Status::invalid("deployer/http needs an input `model` (an HF model folder)");
    serve::DeployRequest r;
    r.name = ctx.param_string("name", "default");
    r.model_dir = fs::absolute(model->path).string();
    r.model_digest = model->digest;
    r.version = ctx.param_string("version");
    if (r.version.empty()) {
      const auto hex = model->digest.substr(model->digest.find(':') + 1);
      r.version = hex.empty() ? ctx.run_id() : hex.substr(0, 12);
    }
    r.host = ctx.param_string("host", "127.0.0.1");
    r.port = static_cast<int>(ctx.param_int("port", 0));
    r.canary_percent = static_cast<int>(ctx.param_int("canary_percent", 0));
    r.token_env = ctx.param_string("token_env", "LLMOPS_SERVE_TOKEN");
    r.wait_s = ctx.param_double("wait_seconds", 300);
    r.tokenizer = ctx.param_string("tokenizer");
    if (auto tok = ctx.input("tokenizer")) {
      r.tokenizer = fs::is_directory(tok->path) ? (tok->path / "tokenizer.json").string()
                                                : tok->path.string();
    } else if (r.tokenizer.empty() && !fs::exists(model->path / "tokenizer.json")) {
      return Status::invalid(
          "the model folder has no tokenizer.json: give input `tokenizer` or "
          "parameter `tokenizer`");
    }
    if (!r.tokenizer.empty()) r.tokenizer = fs::absolute(r.tokenizer).string();
    for (const char* key : {"max_concurrency", "max_tokens", "timeout"}) {
      if (!ctx.has_param(key)) continue;
      std::string flag = std::string("--") + key;
      std::replace(flag.begin(), flag.end(), '_', '-');
      r.server_args.insert(r.server_args.end(), {flag, ctx.param_string(key)});
    }
    // The server redacts PII in its request log by default; false keeps prompts verbatim.
    if (!ctx.param_bool("redact_pii", true)) r.server_args.push_back("--no-redact-pii");
    r.serve_binary = serve::find_serve_binary(plugin_dir());
    r.run_id = ctx.run_id();
    r.step = ctx.step_name();
    r.actor = "run:" + r.run_id + ":" + r.step;
    std::string from_version;
    if (auto prev = serve::read_deployment(r.name); prev && (*prev)["version"].is_string())
      from_version = (*prev)["version"].get<std::string>();
    r.cancelled = [&ctx] { return ctx.cancelled(); };

    ctx.info("deploying " + r.model_dir + " as " + r.name + " version " + r.version);
    auto res = serve::deploy(r);
    if (!res) return res.status();
    const auto& st = res->state;
    namespace dep = deployment;
    json out = {{dep::kName, st["name"]},
                {dep::kEndpoint, st["endpoint"]},
                {"pid", st["pid"]},
                {dep::kPort, st["port"]},
                {dep::kHost, st["host"]},
                {dep::kVersion, r.version},
                {dep::kModelDigest, r.model_digest},
                {dep::kCanaryPercent, r.canary_percent},
                {"started", res->started},
                {dep::kAction, res->state["history"].back().value(dep::kAction, "")},
                {"actor", r.actor},
                {"user", serve::current_user()},
                {"from_version", from_version},
                {"to_version", r.version},
                {"state_file", (serve::deployments_dir() / (r.name + ".json")).string()},
                {dep::kRequestLog, st.value("log_dir", "")}};
    const auto dir = ctx.output("deployment", artifact_kind::kDeployment);
    std::ofstream f(dir / dep::kFileName);
    f << out.dump(2) << "\n";
    if (!f) return Status::internal("cannot write " + (dir / dep::kFileName).string());
    ctx.set_output_metadata("deployment", out.dump());
    ctx.metric("load_seconds", res->seconds);
    ctx.info(std::string(res->started ? "started " : "loaded into ") + "the server at " +
             st.value("endpoint", ""));
    return Status::ok();
  }
};

constexpr char kParams[] = R"JSON({"type":"object","additionalProperties":false,"properties":{
  "name":{"type":"string","description":"Deployment name (one server per name)","default":"default"},
  "version":{"type":"string","description":"Version label (default: the model digest's first 12 hex digits)"},
  "host":{"type":"string","default":"127.0.0.1"},
  "port":{"type":"integer","minimum":0,"maximum":65535,"default":0,"description":"0: a free port"},
  "canary_percent":{"type":"integer","minimum":0,"maximum":100,"default":0,"description":"Share of traffic for the new version; 0 or 100 switch all"},
  "token_env":{"type":"string","default":"LLMOPS_SERVE_TOKEN","description":"Environment variable holding the bearer token"},
  "tokenizer":{"type":"string","description":"tokenizer.json when the model folder has none"},
  "wait_seconds":{"type":"number","minimum":1,"default":300},
  "max_concurrency":{"type":"integer","minimum":1},
  "max_tokens":{"type":"integer","minimum":1},
  "timeout":{"type":"number","minimum":0.1},
  "redact_pii":{"type":"boolean","default":true}}})JSON";

}  // namespace

LLMOPS_PLUGIN(
    HttpDeployer, "deployer", "http", "1.0.0",
    "Serves a model over an OpenAI-compatible HTTP API (blue/green, canary)", kParams,
    R"([{"name":"model","kind":"model","required":true},{"name":"tokenizer","kind":"tokenizer","required":false}])",
    R"([{"name":"deployment","kind":"deployment"}])", "subprocess", llmops::kNotCacheable)
