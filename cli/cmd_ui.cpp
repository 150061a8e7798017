// `llmops ui`: the web UI over the store (ui/; docs/ui.md). Serves until SIGINT or SIGTERM.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <iostream>

#include "cli/commands.hpp"
#include "ui/api.hpp"

namespace fs = std::filesystem;

namespace llmops::cli {

namespace {

struct UiArgs {
  std::string host = "127.0.0.1";
  int port = 8765;
  std::string pipelines = "pipelines";
  std::string assets;
  bool allow_remote = false;
};

UiArgs g_ui;
CLI::App* g_ui_cmd = nullptr;

bool loopback(const std::string& host) {
  return host == "127.0.0.1" || host.rfind("127.", 0) == 0;
}

int cmd_ui(const UiArgs& a) {
  if (!loopback(a.host) && !a.allow_remote)
    return fail("--host " + a.host +
                " would let other machines read the store: add --allow-remote if you mean it");
  if (!a.assets.empty() && !fs::is_regular_file(fs::path(a.assets) / "index.html"))
    return fail("--assets " + a.assets + " has no index.html (give the ui/web folder)");
  const fs::path home = home_dir();
  // An older store is upgraded here, as by any other command; a missing one is not created (the
  // pages say so until a first run makes it).
  std::error_code ec;
  if (fs::exists(home / "llmops.db", ec)) {
    auto st = store::Store::open(home);
    // A store this llmops cannot open (a newer schema, say) is reported by every page.
    if (!st) std::cerr << "llmops ui: warning: " << st.status().message() << "\n";
  }

  // The commands the UI runs for actions record this in their history (ui:rollback, ...).
  ::setenv("LLMOPS_ACTOR_VIA", "ui", 1);
  ui::UiOptions o;
  o.home = home;
  o.assets_dir = a.assets;
  o.check_host = loopback(a.host);
  o.version = LLMOPS_VERSION;
  o.llmops_bin = fs::read_symlink("/proc/self/exe", ec).string();
  if (const char* t = std::getenv("LLMOPS_UI_TOKEN"); t && *t) o.token = t;
  const fs::path pipelines = fs::absolute(a.pipelines, ec);
  o.schedules = [pipelines](store::Store* st) -> Result<nlohmann::json> {
    if (!fs::is_directory(pipelines)) return nlohmann::json::array();
    return schedule_list_json(pipelines, st, nullptr);
  };
  if (const char* n = std::getenv("LLMOPS_UI_SUMMARY_STEPS"))  // tests: a small "huge" run
    o.summary_over_steps = static_cast<size_t>(std::max(1, std::atoi(n)));
  if (const char* hb = std::getenv("LLMOPS_UI_HEARTBEAT_MS"))  // tests
    o.heartbeat = std::chrono::milliseconds(std::max(10, std::atoi(hb)));

  // Block the stop signals in every thread; this one waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  ui::ServerOptions so;
  so.host = a.host;
  so.port = a.port;
  ui::HttpServer server;
  if (auto err = server.listen(so); !err.empty())
    return fail(err + (a.port ? " (is another llmops ui running? try --port 0)" : ""), kExitFailed);
  o.host = a.host;
  o.port = server.port();  // known before the first request: the Host check needs it
  auto api = std::make_shared<ui::Api>(o);
  server.run([api](const ui::Request& r, ui::Exchange& ex) { api->handle(r, ex); });
  std::cout << "llmops ui: http://" << (a.host == "0.0.0.0" ? "127.0.0.1" : a.host) << ":"
            << server.port() << "/" << std::endl;
  std::cerr << "serving " << home.string() << (o.token.empty() ? " read-only" : " (actions on)")
            << "; Ctrl-C stops\n";
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::cerr << "llmops ui: stopping\n";
  server.stop();
  return kExitOk;
}

}  // namespace

void add_ui_command(CLI::App& app) {
  g_ui_cmd = app.add_subcommand("ui", "Serve the web UI: runs, live DAG, logs, metrics, lineage");
  g_ui_cmd->add_option("--host", g_ui.host, "Address to listen on")->capture_default_str();
  g_ui_cmd->add_option("--port", g_ui.port, "Port (0: any free one)")->capture_default_str();
  g_ui_cmd->add_option("--pipelines", g_ui.pipelines, "Folder whose schedules the UI lists")
      ->capture_default_str();
  g_ui_cmd->add_option("--assets", g_ui.assets,
                       "Serve the front end from this folder (ui/web) instead of the built-in "
                       "copy");
  g_ui_cmd->add_flag("--allow-remote", g_ui.allow_remote,
                     "Allow a --host other than loopback (anyone who can connect reads the store)");
}

int run_ui_command() {
  if (g_ui_cmd && *g_ui_cmd) return cmd_ui(g_ui);
  return -1;
}

}  // namespace llmops::cli
