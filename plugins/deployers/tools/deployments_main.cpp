// llmops-deployments: the model servers that deployer/http started (`llmops deployments ...`).
//   llmops-deployments list [--json]
//   llmops-deployments show NAME [--json]
//   llmops-deployments rollback NAME     back to the version before the current one (or drop a
//                                        canary)
//   llmops-deployments promote NAME     the canary takes all traffic
//   llmops-deployments stop NAME [--timeout S]
// Reads $LLMOPS_HOME/deployments/*.json (LLMOPS_HOME defaults to ./.llmops). rollback and stop are
// also recorded in the store ($LLMOPS_HOME/llmops.db: the deployment's row and its append-only
// history, actor "cli:rollback" / "cli:stop" with the user from the environment); show prints
// that history. Exit codes: 0 ok, 1 the operation failed (or was done but could not be recorded),
// 2 bad usage or unknown deployment.
#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "deploy.hpp"
#include "llmops/artifacts.hpp"
#include "store_history.hpp"

using namespace llmops;
using nlohmann::json;

namespace {

int fail(const Status& s) {
  std::cerr << "llmops-deployments: error: " << s.message() << "\n";
  return s.code() == StatusCode::kNotFound || s.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

std::string live_state(const json& st) {
  if (st.value("state", "") != "running") return st.value("state", "unknown");
  return serve::deployment_running(st) ? "running" : "dead";
}

// A change that happened but is missing from the store is still an error: the history must not
// silently lose it.
int recorded(const std::string& name, const std::string& what, const Status& s) {
  if (s) return 0;
  std::cerr << "llmops-deployments: error: " << name << " was " << what
            << " but the store did not record it: " << s.message() << "\n";
  return 1;
}

// "cli:rollback", or "ui:rollback" when the web UI ran this (it sets LLMOPS_ACTOR_VIA=ui).
std::string actor_of(const std::string& action) {
  const char* via = std::getenv("LLMOPS_ACTOR_VIA");
  return std::string(via && std::string(via) == "ui" ? "ui:" : "cli:") + action;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"llmops-deployments: list, inspect, roll back and stop model servers"};
  app.require_subcommand(1);
  bool as_json = false;
  std::string name;
  double timeout = 30;
  auto* list = app.add_subcommand("list", "Every deployment with its state");
  list->add_flag("--json", as_json, "Machine-readable output");
  auto* show = app.add_subcommand("show", "One deployment: state file, live status, history");
  show->add_option("name", name, "Deployment name")->required();
  show->add_flag("--json", as_json, "Machine-readable output");
  auto* rollback = app.add_subcommand("rollback", "Switch back to the previous version");
  rollback->add_option("name", name, "Deployment name")->required();
  auto* promote = app.add_subcommand("promote", "Give the canary all traffic");
  promote->add_option("name", name, "Deployment name")->required();
  auto* stop = app.add_subcommand("stop", "Stop the server (SIGTERM, then SIGKILL)");
  stop->add_option("name", name, "Deployment name")->required();
  stop->add_option("--timeout", timeout, "Seconds to wait before SIGKILL")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (*list) {
    auto all = serve::list_deployments();
    if (as_json) {
      json out = json::array();
      for (auto& st : all) {
        st["live"] = live_state(st);
        out.push_back(st);
      }
      std::cout << out.dump(2) << "\n";
      return 0;
    }
    if (all.empty()) {
      std::cout << "no deployments in " << serve::deployments_dir().string() << "\n";
      return 0;
    }
    std::printf("%-20s %-9s %-16s %-8s %s\n", "NAME", "STATE", "VERSION", "PID", "ENDPOINT");
    for (const auto& st : all) {
      std::string version = st.value("version", "");
      if (st.contains("canary") && st["canary"].is_object())
        version += " (+" + st["canary"].value("version", "") + " " +
                   std::to_string(st["canary"].value("percent", 0)) + "%)";
      std::printf("%-20s %-9s %-16s %-8lld %s\n", st.value("name", "").c_str(),
                  live_state(st).c_str(), version.c_str(),
                  static_cast<long long>(st.value("pid", int64_t{0})),
                  st.value("endpoint", "").c_str());
    }
    return 0;
  }
  if (*show) {
    auto st = serve::read_deployment(name);
    if (!st) return fail(st.status());
    (*st)["live"] = live_state(*st);
    if ((*st)["live"] == "running") {
      auto r = common::http_request(st->value("host", "127.0.0.1"), st->value("port", 0), "GET",
                                    "/admin/status", "",
                                    serve::auth_headers(st->value("token_env", "")), 5);
      if (r && r->status == 200) (*st)["server"] = json::parse(r->body, nullptr, false);
    }
    auto recorded_view = deployments::store_view(name);
    if (!recorded_view)
      std::cerr << "llmops-deployments: warning: cannot read the store: "
                << recorded_view.status().message() << "\n";
    (*st)["store"] = recorded_view ? *recorded_view : json(nullptr);
    if (as_json) {
      std::cout << st->dump(2) << "\n";
      return 0;
    }
    std::cout << "name:      " << name << "\nstate:     " << (*st)["live"].get<std::string>()
              << "\nendpoint:  " << st->value("endpoint", "")
              << "\npid:       " << st->value("pid", int64_t{0})
              << "\nversion:   " << st->value("version", "")
              << "\nmodel:     " << st->value("model_dir", "")
              << "\ndigest:    " << st->value("model_digest", "")
              << "\nlog:       " << st->value("log_dir", "") << "\n";
    const json& rec = (*st)["store"];
    if (rec.is_object() && rec.contains("state"))
      std::cout << "recorded:  " << rec.value("state", "") << " (store, updated "
                << rec.value("updated_at", "") << ")\n";
    if (rec.is_object() && rec.contains("history") && !rec["history"].empty()) {
      std::cout << "history (store):\n";
      for (const auto& h : rec["history"]) std::cout << deployments::history_line(h) << "\n";
      return 0;
    }
    std::cout << "history:\n";
    for (const auto& h : (*st)["history"])
      std::cout << "  " << h.value("time", "") << "  " << h.value("action", "") << "  "
                << h.value("version", "") << "  " << h.value("run_id", "") << "\n";
    return 0;
  }
  if (*rollback) {
    auto before = serve::read_deployment(name);
    if (!before) return fail(before.status());
    auto r = serve::rollback_deployment(name, actor_of("rollback"));
    if (!r) return fail(r.status());
    json extra = {{"restarted", r->started}};
    if ((*before)["canary"].is_object())
      extra["dropped_canary"] = (*before)["canary"].value("version", "");
    std::cout << name << ": now serving " << r->state.value("version", "") << " at "
              << r->state.value("endpoint", "") << "\n";
    return recorded(name, "rolled back",
                    deployments::record_change(deployment::kRollback, actor_of("rollback"), *before,
                                               r->state, extra));
  }
  if (*promote) {
    auto before = serve::read_deployment(name);
    if (!before) return fail(before.status());
    auto r = serve::promote_deployment(name, actor_of("promote"));
    if (!r) return fail(r.status());
    std::cout << name << ": now serving " << r->state.value("version", "") << " on all traffic\n";
    return recorded(name, "promoted",
                    deployments::record_change(deployment::kPromote, actor_of("promote"), *before,
                                               r->state, {}));
  }
  if (*stop) {
    auto before = serve::read_deployment(name);
    if (!before) return fail(before.status());
    const std::string was = live_state(*before);
    if (auto s = serve::stop_deployment(name, timeout, actor_of("stop")); !s) return fail(s);
    auto after = serve::read_deployment(name);
    if (!after) return fail(after.status());
    std::cout << name << ": stopped\n";
    return recorded(name, "stopped",
                    deployments::record_change(deployment::kStop, actor_of("stop"), *before, *after,
                                               {{"was", was}}));
  }
  return 2;
}
