// `llmops schedule next | list`: cron arithmetic and the schedules of a folder of pipelines.
// (The daemon, `llmops scheduler`, is in cmd_scheduler.cpp.)
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iomanip>
#include <iostream>

#include "cli/commands.hpp"
#include "cli/schedule_files.hpp"
#include "engine/triggers/cron_scheduler.hpp"

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

nlohmann::json when_json(SysSeconds t, const std::string& tz) {
  return {{"local", engine::format_local_iso(t, tz)}, {"utc", engine::format_local_iso(t, "UTC")}};
}

// One row of `schedule list --json` (see docs/cli.md).
nlohmann::json schedule_row(const engine::PipelineSpec& pipeline, const fs::path& file,
                            const engine::ScheduleSpec& s, store::Store* store, SysSeconds now) {
  const bool watch = s.is_watch();
  nlohmann::json row = {
      {"schedule", s.id},
      {"pipeline", pipeline.name},
      {"file", file.string()},
      {"kind", watch ? "watch" : "cron"},
      {"cron", watch ? nlohmann::json(nullptr) : nlohmann::json(s.expression)},
      {"timezone", watch ? nlohmann::json(nullptr) : nlohmann::json(s.timezone)},
      {"state", s.suspend ? "suspended" : "active"},
      {"concurrency", engine::to_string(s.concurrency)},
      {"catchup", watch ? nlohmann::json(nullptr) : nlohmann::json(engine::to_string(s.catchup))},
      {"last", nullptr},
      {"last_run", nullptr},
      {"next", nullptr}};
  if (watch) {
    row["watch"] = {{"glob", s.watch->globs}, {"poll", s.watch->poll_s}};
    if (s.watch->settle_s > 0) row["watch"]["settle"] = s.watch->settle_s;
    row["last_digest"] = nullptr;
  }
  auto st =
      store ? store->get_schedule(s.id) : Result<std::optional<store::ScheduleState>>(std::nullopt);
  if (st && st.value()) {
    const store::ScheduleState& state = *st.value();
    if (state.last_run_id) row["last_run"] = *state.last_run_id;
    if (watch && state.kind == "watch") {
      if (state.last_started_at) {
        row["last"] = when_json(
            SysSeconds(std::chrono::seconds(static_cast<long long>(*state.last_started_at))),
            "UTC");
      }
      if (state.last_digest) row["last_digest"] = *state.last_digest;
    } else if (!watch && state.last_nominal_fire) {
      SysSeconds last{std::chrono::seconds(static_cast<long long>(*state.last_nominal_fire))};
      // A schedule that never fired holds the time the scheduler first saw it: not a fire.
      auto fire = s.cron->next_after(last - std::chrono::seconds(1));
      if (fire && *fire == last) row["last"] = when_json(last, s.timezone);
    }
  }
  if (!watch && !s.suspend) {
    if (auto next = s.cron->next_after(now)) row["next"] = when_json(*next, s.timezone);
  }
  return row;
}

}  // namespace

Result<nlohmann::json> schedule_list_json(const fs::path& dir, store::Store* store,
                                          std::vector<std::string>* problems) {
  auto files = load_schedule_files(dir);
  if (!files) return files.status();
  const SysSeconds now = now_seconds();
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& f : *files) {
    if (!f.ok) {
      if (problems)
        for (const auto& d : f.diagnostics) problems->push_back(d.str());
      continue;
    }
    for (const auto& s : f.spec->schedules)
      rows.push_back(schedule_row(*f.spec, f.path, s, store, now));
  }
  return rows;
}

namespace {

int cmd_schedule_list(const ScheduleListArgs& a) {
  // Read-only use: a store that does not exist yet is not created (no fire recorded anyway).
  std::unique_ptr<store::Store> store;
  std::error_code ec;
  if (fs::exists(home_dir() / "llmops.db", ec)) {
    store = open_store();
    if (!store) return kExitFailed;
  }
  std::vector<std::string> problems;
  auto listed = schedule_list_json(a.dir, store.get(), &problems);
  if (!listed) return fail(listed.status().message());
  for (const auto& p : problems) std::cerr << p << "\n";
  const nlohmann::json& rows = listed.value();
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
  std::cout << std::left << std::setw(28) << "SCHEDULE" << std::setw(30) << "TRIGGER"
            << std::setw(18) << "TIMEZONE" << std::setw(10) << "STATE" << std::setw(27) << "LAST"
            << std::setw(8) << "RUN" << std::setw(27) << "NEXT"
            << "NEXT (UTC)\n";
  for (const auto& r : rows) {
    const bool watch = r["kind"] == "watch";
    std::string trigger = watch ? "watch " : r["cron"].get<std::string>();
    if (watch) {
      for (const auto& g : r["watch"]["glob"])
        trigger += (trigger.size() > 6 ? "," : "") + g.get<std::string>();
    }
    std::string next = cell(r["next"], "local");
    if (watch && r["state"] == "active") next = "on change";
    std::cout << std::left << std::setw(28) << r["schedule"].get<std::string>() << std::setw(30)
              << trigger << std::setw(18)
              << (watch ? std::string("-") : r["timezone"].get<std::string>()) << std::setw(10)
              << r["state"].get<std::string>() << std::setw(27) << cell(r["last"], "local")
              << std::setw(8) << (r["last_run"].is_null() ? std::string("-") : r["last_run"].dump())
              << std::setw(27) << next << cell(r["next"], "utc") << "\n";
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
