// `llmops schedule next | list`: cron arithmetic and the schedules of a folder of pipelines.
// (The daemon, `llmops scheduler`, is in cmd_scheduler.cpp.)
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iomanip>
#include <iostream>

#include "cli/commands.hpp"
#include "cli/schedule_files.hpp"
#include "engine/cron_scheduler.hpp"

namespace fs = std::filesystem;

namespace llmops::cli {

namespace {

using engine::SysSeconds;

struct NextArgs {
  std::string expr;
  std::string tz = "UTC";
  std::string after;
  int n = 5;
  bool json = false;
};
struct ScheduleListArgs {
  std::string dir = "pipelines";
  bool json = false;
};

NextArgs g_next;
ScheduleListArgs g_list;
SchedulerArgs g_daemon;
CLI::App* g_next_cmd = nullptr;
CLI::App* g_list_cmd = nullptr;
CLI::App* g_daemon_cmd = nullptr;

SysSeconds now_seconds() {
  return engine::SystemClock().now();
}

int cmd_schedule_next(const NextArgs& a) {
  auto spec = engine::CronSpec::parse(a.expr, a.tz);
  if (!spec) return fail(spec.status().message());
  SysSeconds after = now_seconds();
  if (!a.after.empty()) {
    auto t = engine::parse_iso8601(a.after, a.tz);
    if (!t) return fail("--after: " + t.status().message());
    after = *t;
  }
  auto times = spec->next_n(after, a.n);
  if (a.json) {
    nlohmann::json out = {
        {"expression", a.expr}, {"timezone", a.tz}, {"next", nlohmann::json::array()}};
    for (auto t : times) {
      out["next"].push_back({{"local", engine::format_local_iso(t, a.tz)},
                             {"utc", engine::format_local_iso(t, "UTC")},
                             {"unix", t.time_since_epoch().count()}});
    }
    print_json(out);
    return kExitOk;
  }
  for (auto t : times) std::cout << engine::format_local_iso(t, a.tz) << "\n";
  return kExitOk;
}

int cmd_schedule_list(const ScheduleListArgs& a) {
  auto files = load_schedule_files(a.dir);
  if (!files) return fail(files.status().message());
  // Read-only use: a store that does not exist yet is not created (no fire recorded anyway).
  std::unique_ptr<store::Store> store;
  std::error_code ec;
  if (fs::exists(home_dir() / "llmops.db", ec)) {
    store = open_store();
    if (!store) return kExitFailed;
  }
  const SysSeconds now = now_seconds();
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& f : *files) {
    if (!f.ok) {
      for (const auto& d : f.diagnostics) std::cerr << d.str() << "\n";
      continue;
    }
    for (const auto& s : f.spec->schedules) {
      nlohmann::json row = {{"schedule", s.id},
                            {"pipeline", f.spec->name},
                            {"file", f.path.string()},
                            {"cron", s.expression},
                            {"timezone", s.timezone},
                            {"state", s.suspend ? "suspended" : "active"},
                            {"concurrency", engine::to_string(s.concurrency)},
                            {"catchup", engine::to_string(s.catchup)},
                            {"last", nullptr},
                            {"next", nullptr}};
      auto st = store ? store->get_schedule(s.id)
                      : Result<std::optional<store::ScheduleState>>(std::nullopt);
      if (st && st.value() && st.value()->last_nominal_fire) {
        SysSeconds last{
            std::chrono::seconds(static_cast<long long>(*st.value()->last_nominal_fire))};
        // A schedule that never fired holds the time the scheduler first saw it: not a fire.
        auto fire = s.cron->next_after(last - std::chrono::seconds(1));
        if (fire && *fire == last) {
          row["last"] = {{"local", engine::format_local_iso(last, s.timezone)},
                         {"utc", engine::format_local_iso(last, "UTC")}};
          if (st.value()->last_run_id) row["last_run"] = *st.value()->last_run_id;
        }
      }
      if (auto next = s.cron->next_after(now); next && !s.suspend) {
        row["next"] = {{"local", engine::format_local_iso(*next, s.timezone)},
                       {"utc", engine::format_local_iso(*next, "UTC")}};
      }
      rows.push_back(row);
    }
  }
  if (a.json) {
    print_json(rows);
    return kExitOk;
  }
  if (rows.empty()) {
    std::cout << "no schedules in " << a.dir << "\n";
    return kExitOk;
  }
  auto cell = [](const nlohmann::json& v, const char* key) {
    return v.is_null() ? std::string("-") : v[key].get<std::string>();
  };
  std::cout << std::left << std::setw(28) << "SCHEDULE" << std::setw(18) << "CRON" << std::setw(18)
            << "TIMEZONE" << std::setw(10) << "STATE" << std::setw(27) << "LAST" << std::setw(27)
            << "NEXT"
            << "NEXT (UTC)\n";
  for (const auto& r : rows) {
    std::cout << std::left << std::setw(28) << r["schedule"].get<std::string>() << std::setw(18)
              << r["cron"].get<std::string>() << std::setw(18) << r["timezone"].get<std::string>()
              << std::setw(10) << r["state"].get<std::string>() << std::setw(27)
              << cell(r["last"], "local") << std::setw(27) << cell(r["next"], "local")
              << cell(r["next"], "utc") << "\n";
  }
  return kExitOk;
}

}  // namespace

void add_schedule_commands(CLI::App& app) {
  auto* schedule = app.add_subcommand("schedule", "Cron schedules: next fire times, list");
  schedule->require_subcommand(1);
  g_next_cmd = schedule->add_subcommand("next", "Print the next fire times of a cron expression");
  g_next_cmd->add_option("expr", g_next.expr, "Cron expression, e.g. \"0 3 * * *\"")->required();
  g_next_cmd->add_option("--tz", g_next.tz, "IANA time zone (default UTC)");
  g_next_cmd->add_option("--after", g_next.after, "Start after this ISO-8601 time (default now)");
  g_next_cmd->add_option("-n", g_next.n, "How many")->check(CLI::Range(1, 10000));
  g_next_cmd->add_flag("--json", g_next.json, "Machine-readable output");
  g_list_cmd = schedule->add_subcommand("list", "Schedules of the pipelines in a folder");
  g_list_cmd->add_option("--dir", g_list.dir, "Folder of pipeline files (default pipelines)");
  g_list_cmd->add_flag("--json", g_list.json, "Machine-readable output");

  g_daemon_cmd = app.add_subcommand("scheduler", "Run the cron scheduler in the foreground");
  g_daemon_cmd->add_option("--dir", g_daemon.dir, "Folder of pipeline files (default pipelines)");
  g_daemon_cmd->add_option("--poll", g_daemon.poll_s, "Seconds between file checks (default 5)")
      ->check(CLI::Range(0.05, 3600.0));
}

int run_schedule_commands() {
  if (g_next_cmd && *g_next_cmd) return cmd_schedule_next(g_next);
  if (g_list_cmd && *g_list_cmd) return cmd_schedule_list(g_list);
  if (g_daemon_cmd && *g_daemon_cmd) return cmd_scheduler(g_daemon);
  return -1;
}

}  // namespace llmops::cli
