// `llmops gc`: the retention policy of the store (Store::collect_garbage in store/gc.cpp).
#include <cstdio>
#include <iostream>

#include "cli/commands.hpp"
#include "engine/run/run_loop.hpp"

namespace llmops::cli {

namespace {

std::string human_bytes(int64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(n));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  }
  return buf;
}

std::string plural(int64_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string pad(std::string s, size_t n) {
  if (s.size() < n) s += std::string(n - s.size(), ' ');
  return s;
}

nlohmann::json report_json(const store::GcReport& r) {
  nlohmann::json removed = nlohmann::json::array();
  for (const auto& run : r.removed_runs)
    removed.push_back({{"id", run.id},
                       {"pipeline", run.pipeline},
                       {"state", store::to_string(run.state)},
                       {"created_at", run.created_at}});
  return {{"dry_run", r.dry_run},
          {"keep_runs", r.keep_runs},
          {"runs_removed", r.removed_runs.size()},
          {"runs_kept", r.runs_kept()},
          {"kept_by",
           {{"newest", r.kept_newest},
            {"in_flight", r.kept_in_flight},
            {"deployed", r.kept_deployed},
            {"scheduled", r.kept_scheduled},
            {"lineage", r.kept_lineage}}},
          {"removed_runs", removed},
          {"steps_removed", r.steps_removed},
          {"executions_removed", r.executions_removed},
          {"artifacts_removed", r.artifacts_removed},
          {"blobs", {{"removed", r.blobs_removed}, {"bytes", r.blob_bytes}}},
          {"orphan_blobs", {{"removed", r.orphan_blobs_removed}, {"bytes", r.orphan_blob_bytes}}},
          {"run_dirs", {{"removed", r.run_dirs_removed}, {"bytes", r.run_dir_bytes}}},
          {"bytes_freed", r.bytes_freed()},
          {"warnings", r.warnings}};
}

// "12 kept: 10 newest of their pipeline, 1 in flight, 1 deployed"
std::string kept_summary(const store::GcReport& r) {
  std::string s = plural(r.runs_kept(), "run", "runs") + " kept";
  std::string why;
  auto add = [&](int64_t n, const std::string& what) {
    if (n > 0) why += (why.empty() ? "" : ", ") + std::to_string(n) + " " + what;
  };
  add(r.kept_newest, "newest of their pipeline (--keep-runs " + std::to_string(r.keep_runs) + ")");
  add(r.kept_in_flight, "pending or running");
  add(r.kept_deployed, "named by a deployment");
  add(r.kept_scheduled, "named by a schedule");
  add(r.kept_lineage, "in the lineage of kept runs");
  return why.empty() ? s : s + ": " + why;
}

void print_report(const store::GcReport& r) {
  const bool dry = r.dry_run;
  if (!r.removed_runs.empty()) {
    std::cout << paint(pad("RUN", 8) + pad("PIPELINE", 24) + pad("STATE", 11) + "CREATED", "1")
              << "\n";
    for (const auto& run : r.removed_runs) {
      const std::string state = store::to_string(run.state);
      std::cout << pad(std::to_string(run.id), 8) << pad(run.pipeline, 24) << pad(state, 11)
                << format_time(run.created_at) << "\n";
    }
    std::cout << "\n";
  }
  if (r.removed_runs.empty() && r.bytes_freed() == 0) {
    std::cout << "Nothing to remove; " << kept_summary(r) << ".\n";
    return;
  }
  std::cout << (dry ? "Would remove " : "Removed ") << plural(r.removed_runs.size(), "run", "runs")
            << " (" << plural(r.steps_removed, "step", "steps") << ", "
            << plural(r.executions_removed, "execution", "executions") << ", "
            << plural(r.artifacts_removed, "artifact", "artifacts") << "); " << kept_summary(r)
            << ".\n";
  std::cout << (dry ? "Would free " : "Freed ") << human_bytes(r.bytes_freed()) << ": "
            << plural(r.blobs_removed, "blob", "blobs") << " (" << human_bytes(r.blob_bytes)
            << "), " << plural(r.orphan_blobs_removed, "unreferenced blob", "unreferenced blobs")
            << " (" << human_bytes(r.orphan_blob_bytes) << "), "
            << plural(r.run_dirs_removed, "run folder", "run folders") << " ("
            << human_bytes(r.run_dir_bytes) << ").\n";
  if (dry) std::cout << "Nothing was removed (--dry-run).\n";
}

}  // namespace

int cmd_gc(const GcArgs& a) {
  auto st = open_store();
  if (!st) return kExitFailed;
  store::GcOptions opt;
  opt.keep_runs = a.keep_runs;
  opt.dry_run = a.dry_run;
  opt.orphan_grace_s = a.orphan_grace_s;
  opt.runs_root = engine::run_dir(st->home(), 0).parent_path();
  auto report = st->collect_garbage(opt);
  if (!report) return fail(report.status().message(), kExitFailed);
  if (a.json) {
    print_json(report_json(report.value()));
  } else {
    print_report(report.value());
  }
  for (const auto& w : report->warnings) std::cerr << "warning: " << w << "\n";
  return report->warnings.empty() ? kExitOk : kExitFailed;
}

}  // namespace llmops::cli
