// `llmops cancel RUN` and `llmops fsck`: stopping a run another process executes, and checking
// (and repairing) the store.
#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <set>
#include <thread>

#include "base/time.hpp"
#include "cli/commands.hpp"
#include "engine/run/run_lease.hpp"

namespace fs = std::filesystem;

namespace llmops::cli {

namespace {

struct CancelArgs {
  int64_t run = 0;
  double timeout_s = 60;
  bool no_wait = false, json = false;
};
struct FsckArgs {
  bool repair = false, quick = false, json = false;
  double orphan_age_s = 3600;
};

CancelArgs g_cancel;
FsckArgs g_fsck;
CLI::App* g_cancel_cmd = nullptr;
CLI::App* g_fsck_cmd = nullptr;

int report_cancel(const CancelArgs& a, const std::string& state, const std::string& how) {
  if (a.json)
    print_json({{"run", a.run}, {"state", state}, {"how", how}});
  else
    std::cout << "run " << a.run << " " << state << ": " << how << "\n";
  return kExitOk;
}

int cmd_cancel(const CancelArgs& a) {
  auto st = open_store();
  if (!st) return kExitFailed;
  auto run = st->get_run(a.run);
  if (!run) return fail(run.status().message());
  if (store::is_terminal(run->state))
    return report_cancel(a, to_string(run->state), "already finished, nothing to cancel");
  engine::LeaseOptions lo;
  auto owner = st->run_owner(a.run);
  if (!owner) return fail(owner.status().message(), kExitFailed);
  if (owner.value() && engine::owner_alive(*owner.value(), lo, base::unix_now())) {
    const std::string who = engine::describe_owner(*owner.value(), base::unix_now());
    if (Status s = st->request_cancel(a.run); !s.is_ok()) return fail(s.message(), kExitFailed);
    if (a.no_wait) return report_cancel(a, "cancelling", "asked " + who + " to cancel it");
    if (!a.json) std::cerr << "asked " << who << " to cancel run " << a.run << "; waiting\n";
    const double until = base::steady_now() + a.timeout_s;
    while (base::steady_now() < until) {
      auto now = st->get_run(a.run);
      if (!now) return fail(now.status().message(), kExitFailed);
      if (store::is_terminal(now->state))
        return report_cancel(a, to_string(now->state), "stopped by " + who);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // another process: poll
    }
    return fail("run " + std::to_string(a.run) + " did not stop within " +
                    std::to_string(int(a.timeout_s)) + " s; " + who + " still owns it",
                kExitFailed);
  }
  // Nobody executes it (its engine died): take it, so no resume starts meanwhile, and record it.
  auto lease = engine::RunLease::acquire(*st, a.run, nullptr, lo);
  if (!lease) return fail(lease.status().message(), kExitFailed);
  auto n = st->end_run(a.run, store::State::kCancelled,
                       "cancelled by `llmops cancel` (no engine was running it)");
  if (!n) return fail(n.status().message(), kExitFailed);
  if (Status s = lease.value()->release(); !s.is_ok()) return fail(s.message(), kExitFailed);
  return report_cancel(a, "cancelled",
                       "no engine was running it; " + std::to_string(n.value()) +
                           " unfinished steps marked cancelled");
}

struct Finding {
  std::string kind;  // damaged | missing | orphan | stray | database | unowned-run
  std::string what, detail, action;
};

int cmd_fsck(const FsckArgs& a) {
  auto st = open_store();
  if (!st) return kExitFailed;
  const double t0 = base::steady_now();
  std::vector<Finding> found;
  int repaired = 0;
  auto& blobs = st->blobs();

  auto arts = st->all_artifacts();
  if (!arts) return fail(arts.status().message(), kExitFailed);
  std::set<std::string> known;
  int64_t bytes = 0;
  for (const auto& art : arts.value()) {
    known.insert(art.digest);
    const std::string label = art.digest.substr(0, 19) + " " + art.kind + "/" + art.name;
    if (!blobs.exists(art.digest)) {
      found.push_back({"missing", label, "no blob",
                       "the step that made it runs again when next "
                       "used (cache lookup or resume)"});
      continue;
    }
    bytes += art.size;
    store::BlobCheck c;
    if (a.quick) {
      c = blobs.check(art.digest, art.size);
    } else {
      c.ok = blobs.verify(art.digest);
      if (!c.ok) c.problem = "content does not match its digest";
    }
    if (c.ok) continue;
    Finding f{"damaged", label, c.problem, "run `llmops fsck --repair` to quarantine it"};
    if (a.repair) {
      auto moved = blobs.quarantine(art.digest);
      if (moved) {
        store::BlobIncident in;
        in.digest = art.digest;
        in.problem = c.problem;
        in.quarantined_to = moved->string();
        in.action = "quarantined by fsck; the step that made it runs again when next used";
        (void)st->record_blob_incident(in);
        f.action = "quarantined to " + moved->string();
        ++repaired;
      } else {
        f.action = "cannot quarantine: " + moved.status().message();
      }
    }
    found.push_back(std::move(f));
  }

  std::vector<fs::path> strays;
  auto stored = blobs.stored_digests(&strays);
  if (!stored) return fail(stored.status().message(), kExitFailed);
  const auto now = fs::file_time_type::clock::now();
  auto old_enough = [&](const fs::path& p) {
    std::error_code ec;
    auto t = fs::last_write_time(p, ec);
    // Young ones may be a seal in progress whose row is not written yet.
    return !ec && std::chrono::duration<double>(now - t).count() > a.orphan_age_s;
  };
  auto remove = [&](Finding f, const fs::path& p) {
    if (a.repair && old_enough(p)) {
      std::error_code ec;
      fs::remove_all(p, ec);
      f.action = ec ? "cannot remove: " + ec.message() : "removed";
      if (!ec) ++repaired;
    } else if (a.repair) {
      f.action = "kept: younger than --orphan-grace";
    }
    found.push_back(std::move(f));
  };
  for (const auto& d : stored.value())
    if (!known.count(d))
      remove({"orphan", d.substr(0, 19), "no artifact refers to it", "`--repair` removes it"},
             blobs.path_of(d));
  for (const auto& p : strays)
    remove({"stray", p.string(), "not a blob (a copy left by a killed process?)",
            "`--repair` removes it"},
           p);

  auto db = st->integrity_problems();
  if (!db) return fail(db.status().message(), kExitFailed);
  for (const auto& line : db.value())
    found.push_back({"database", "llmops.db", line, "restore from a backup (docs/operations.md)"});

  auto runs = st->list_runs(1000000);
  if (!runs) return fail(runs.status().message(), kExitFailed);
  for (const auto& r : runs.value()) {
    if (store::is_terminal(r.state)) continue;
    auto owner = st->run_owner(r.id);
    if (owner && owner.value() &&
        engine::owner_alive(*owner.value(), engine::LeaseOptions{}, base::unix_now()))
      continue;
    if (r.state == store::State::kPending && !(owner && owner.value())) continue;  // not started
    found.push_back({"unowned-run", "run " + std::to_string(r.id),
                     std::string(to_string(r.state)) + " but no engine runs it",
                     "`llmops resume " + std::to_string(r.id) + "` or `llmops cancel " +
                         std::to_string(r.id) + "`"});
  }

  const double secs = base::steady_now() - t0;
  // Left unresolved: damaged blobs still in place, a damaged database, runs nobody finishes.
  // Missing blobs are made again when next used; orphans and strays only take space.
  int open = 0;
  for (const auto& f : found)
    if ((f.kind == "damaged" && f.action.rfind("quarantined to", 0) != 0) || f.kind == "database" ||
        f.kind == "unowned-run")
      ++open;
  if (a.json) {
    nlohmann::json j = {{"artifacts", arts->size()},
                        {"blobs", stored->size()},
                        {"bytes_checked", bytes},
                        {"seconds", secs},
                        {"repaired", repaired},
                        {"unresolved", open},
                        {"findings", nlohmann::json::array()}};
    for (const auto& f : found)
      j["findings"].push_back(
          {{"kind", f.kind}, {"what", f.what}, {"detail", f.detail}, {"action", f.action}});
    print_json(j);
  } else {
    std::cout << "checked " << arts->size() << " artifacts and " << stored->size() << " blobs ("
              << bytes << " bytes, " << (a.quick ? "sizes" : "full hashes") << ") in "
              << format_duration(secs) << "\n";
    for (const auto& f : found)
      std::cout << "  " << f.kind << "  " << f.what << ": " << f.detail << " -> " << f.action
                << "\n";
    if (found.empty())
      std::cout << "no problems found\n";
    else
      std::cout << found.size() << " problems, " << repaired << " repaired, " << open << " left\n";
  }
  return open == 0 ? kExitOk : kExitFailed;
}

}  // namespace

void add_ops_commands(CLI::App& app) {
  g_cancel_cmd = app.add_subcommand("cancel", "Stop a run, whichever process is executing it");
  g_cancel_cmd->add_option("run", g_cancel.run, "Run id")->required();
  g_cancel_cmd->add_option("--timeout", g_cancel.timeout_s, "Seconds to wait for it to stop")
      ->capture_default_str();
  g_cancel_cmd->add_flag("--no-wait", g_cancel.no_wait, "Ask for the cancel and return");
  g_cancel_cmd->add_flag("--json", g_cancel.json, "Machine-readable output");
  g_fsck_cmd = app.add_subcommand(
      "fsck", "Check the store: blobs against their digests, rows against blobs, the database");
  g_fsck_cmd->add_flag("--repair", g_fsck.repair,
                       "Quarantine damaged blobs, remove orphans and stray files");
  g_fsck_cmd->add_flag("--quick", g_fsck.quick, "Compare sizes instead of hashing every blob");
  g_fsck_cmd
      ->add_option("--orphan-grace", g_fsck.orphan_age_s,
                   "Seconds an unreferenced blob must be old before --repair removes it")
      ->capture_default_str();
  g_fsck_cmd->add_flag("--json", g_fsck.json, "Machine-readable output");
}

int run_ops_commands() {
  if (g_cancel_cmd && *g_cancel_cmd) return cmd_cancel(g_cancel);
  if (g_fsck_cmd && *g_fsck_cmd) return cmd_fsck(g_fsck);
  return -1;
}

}  // namespace llmops::cli
