// llmops-deployments: the model servers that deployer/http started (`llmops deployments ...`).
//   llmops-deployments list [--json]
//   llmops-deployments show NAME [--json]
//   llmops-deployments rollback NAME     back to the version before the current one (or drop a
//                                        canary)
//   llmops-deployments stop NAME [--timeout S]
// Reads $LLMOPS_HOME/deployments/*.json (LLMOPS_HOME defaults to ./.llmops). Exit codes: 0 ok,
// 1 the operation failed, 2 bad usage or unknown deployment.
#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "deploy.hpp"

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
      auto r = serve::http_request(st->value("host", "127.0.0.1"), st->value("port", 0), "GET",
                                   "/admin/status", "",
                                   serve::auth_headers(st->value("token_env", "")), 5);
      if (r && r->status == 200) (*st)["server"] = json::parse(r->body, nullptr, false);
    }
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
              << "\nlog:       " << st->value("log_dir", "") << "\nhistory:\n";
    for (const auto& h : (*st)["history"])
      std::cout << "  " << h.value("time", "") << "  " << h.value("action", "") << "  "
                << h.value("version", "") << "  " << h.value("run_id", "") << "\n";
    return 0;
  }
  if (*rollback) {
    auto r = serve::rollback_deployment(name);
    if (!r) return fail(r.status());
    std::cout << name << ": now serving " << r->state.value("version", "") << " at "
              << r->state.value("endpoint", "") << "\n";
    return 0;
  }
  if (*stop) {
    if (auto s = serve::stop_deployment(name, timeout); !s) return fail(s);
    std::cout << name << ": stopped\n";
    return 0;
  }
  return 2;
}
