#include "engine/triggers/schedule_daemon.hpp"

#include <set>

namespace llmops::engine {

namespace {

double unix_of(SysSeconds t) {
  return static_cast<double>(t.time_since_epoch().count());
}

void earliest(std::optional<SysSeconds>& wake, std::optional<SysSeconds> t) {
  if (t && (!wake || *t < *wake)) wake = t;
}

}  // namespace

ScheduleDaemon::ScheduleDaemon(store::Store& store, const Clock& clock, Launcher& launcher,
                               Options options)
    : store_(store),
      clock_(clock),
      launcher_(launcher),
      options_(std::move(options)),
      cron_(clock, options_.cron) {
  if (options_.watch_base.empty()) {
    std::error_code ec;
    options_.watch_base = std::filesystem::current_path(ec);
  }
}

void ScheduleDaemon::log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

void ScheduleDaemon::logged(const Status& s, const char* what) const {
  // Fire bookkeeping: the next pass reconciles fires with their processes and runs, so a write the
  // store refuses is reported, not fatal to the scheduler.
  if (!s.is_ok()) log("error: store: " + std::string(what) + ": " + s.message());
}

std::optional<SysSeconds> ScheduleDaemon::tick(const std::vector<ScheduleTarget>& targets) {
  reconcile();
  const Flights flights = collect_in_flight(targets);
  std::optional<SysSeconds> wake = tick_cron(targets, flights);
  const SysSeconds now = clock_.now();
  for (const auto& t : targets) {
    if (t.spec && t.spec->watch) earliest(wake, tick_watch(t, flights, now));
  }
  return wake;
}

void ScheduleDaemon::reconcile() {
  auto open = store_.open_schedule_fires();
  if (!open) {
    log("error: " + open.status().message());
    return;
  }
  open_.clear();
  awaiting_runs_ = false;
  for (auto& f : *open) {
    if (!f.run_id) {
      if (auto run = store_.link_schedule_fire(f.id); run && *run) {
        f.run_id = **run;
        log("run " + std::to_string(*f.run_id) + " recorded for " + f.schedule + " (pid " +
            std::to_string(f.pid.value_or(0)) + ")");
      }
    }
    if (f.pid && launcher_.alive(*f.pid, f.token)) {
      if (!f.run_id) awaiting_runs_ = true;
      open_.push_back(f);
      continue;
    }
    end_gone_fire(f);
  }
}

void ScheduleDaemon::end_gone_fire(store::ScheduleFire& f) {
  if (!f.pid) {
    // Recorded, then the scheduler stopped before it started the process: at most once means
    // this fire is lost, and the log says so.
    log("warning: " + f.schedule + ": a fire recorded by an earlier scheduler was never started " +
        "(it stopped in between); it is not retried");
    logged(store_.set_schedule_fire_state(f.id, "ended", std::nullopt, "never started"),
           "ending a fire");
    return;
  }
  const std::string pid = std::to_string(*f.pid);
  if (!f.run_id) {  // it may have recorded its run just before it ended
    if (auto run = store_.link_schedule_fire(f.id); run && *run) f.run_id = **run;
  }
  std::string note = "process ended";
  if (!f.run_id) {
    note = "process ended without recording a run";
  } else if (auto run = store_.get_run(*f.run_id); run && !is_terminal(run->state)) {
    const std::string id = std::to_string(*f.run_id);
    if (auto n = store_.fail_interrupted(*f.run_id); !n) logged(n.status(), "interrupted attempts");
    Status s = store_.set_run_state(*f.run_id, store::State::kFailed,
                                    "interrupted: its engine process (pid " + pid +
                                        ") is gone; `llmops resume " + id + "` continues it");
    if (!s) log("error: " + s.message());
    log("run " + id + " of " + f.schedule + ": its engine process (pid " + pid + ") is gone; " +
        "marked failed (interrupted) so `llmops resume " + id + "` can continue it");
    note = "engine process gone; run marked interrupted";
  }
  logged(store_.set_schedule_fire_state(f.id, "ended", std::nullopt, note), "ending a fire");
}

ScheduleDaemon::Flights ScheduleDaemon::collect_in_flight(
    const std::vector<ScheduleTarget>& targets) {
  flights_.clear();
  Flights out;
  std::set<std::string> ids;
  for (const auto& t : targets)
    if (t.spec) ids.insert(t.spec->id);
  for (const auto& f : open_) {
    // A fire being cancelled for `replace` is not cancelled again (a second SIGINT stops a run
    // abruptly); it no longer counts as the schedule's run.
    if (!ids.count(f.schedule) || f.state == "cancelling") continue;
    out[f.schedule].push_back(static_cast<int64_t>(flights_.size()));
    flights_.push_back({f.schedule, f, f.run_id});
  }
  for (const auto& id : ids) {
    auto runs = store_.schedule_runs_untracked(id);
    if (!runs) {
      log("error: " + runs.status().message());
      continue;
    }
    for (int64_t run : *runs) {
      out[id].push_back(static_cast<int64_t>(flights_.size()));
      flights_.push_back({id, std::nullopt, run});
    }
  }
  return out;
}

std::string ScheduleDaemon::describe(int64_t handle) const {
  const InFlight& f = flights_.at(static_cast<size_t>(handle));
  std::string run = f.run_id ? "run " + std::to_string(*f.run_id) : "a run not recorded yet";
  if (f.fire && f.fire->pid) return run + " (pid " + std::to_string(*f.fire->pid) + ")";
  return run + " (no process known)";
}

std::string ScheduleDaemon::describe_all(const std::vector<int64_t>& handles) const {
  std::string out;
  for (int64_t h : handles) out += (out.empty() ? "" : ", ") + describe(h);
  return out;
}

void ScheduleDaemon::cancel(int64_t handle, const std::string& reason) {
  InFlight& f = flights_.at(static_cast<size_t>(handle));
  if (!f.fire || !f.fire->pid) {
    log("warning: cannot cancel " + f.schedule + " " + describe(handle) +
        ": no process is known for it (started before the scheduler recorded its processes); " +
        "stop it by hand");
    return;
  }
  if (!launcher_.interrupt(*f.fire->pid, f.fire->token)) {
    log("cancel " + f.schedule + " " + describe(handle) + ": it has already ended");
    return;
  }
  logged(store_.set_schedule_fire_state(f.fire->id, "cancelling"), "cancelling a fire");
  f.fire->state = "cancelling";
  for (auto& o : open_)
    if (o.id == f.fire->id) o.state = "cancelling";
  log("cancel " + f.schedule + " " + describe(handle) + ": " + reason +
      " (its run ends cancelled; `llmops resume` can continue it)");
}

bool ScheduleDaemon::launch(const ScheduleTarget& t, store::ScheduleFire fire,
                            LaunchRequest request, const std::string& what) {
  const std::string& id = t.spec->id;
  fire.schedule = id;
  auto added = store_.add_schedule_fire(fire);
  if (!added) {
    log("error: cannot record the fire of " + id + ": " + added.status().message());
    return false;
  }
  request.schedule_id = id;
  request.file = t.run_file;
  request.params = t.spec->params;
  request.token = added->token;
  auto info =
      nlohmann::json::parse(request.trigger_info_json.empty() ? "{}" : request.trigger_info_json);
  info["schedule"] = id;
  info["fire"] = added->token;
  request.trigger_info_json = info.dump();
  auto started = launcher_.start(request);
  if (!started) {
    log("error: cannot start " + what + ": " + started.status().message());
    logged(store_.set_schedule_fire_state(added->id, "ended", std::nullopt,
                                          "not started: " + started.status().message()),
           "ending a fire");
    return false;
  }
  logged(store_.set_schedule_fire_state(added->id, "running", started->pid), "a started fire");
  added->state = "running";
  added->pid = started->pid;
  open_.push_back(*added);
  awaiting_runs_ = true;
  log("start " + what + " (pid " + std::to_string(started->pid) + ", log " + started->log + ")");
  return true;
}

std::optional<SysSeconds> ScheduleDaemon::tick_cron(const std::vector<ScheduleTarget>& targets,
                                                    const Flights& flights) {
  std::vector<ScheduleInput> inputs;
  std::map<std::string, const ScheduleTarget*> owner;
  for (const auto& t : targets) {
    if (!t.spec || !t.spec->cron) continue;
    ScheduleInput in;
    in.spec = t.spec;
    auto st = store_.get_schedule(t.spec->id);
    if (!st) {
      log("error: " + st.status().message());
      continue;  // deciding without its state could fire twice
    }
    if (st.value() && st.value()->last_nominal_fire) {
      in.last_nominal =
          SysSeconds(std::chrono::seconds(static_cast<long long>(*st.value()->last_nominal_fire)));
    }
    if (auto it = flights.find(t.spec->id); it != flights.end()) in.running = it->second;
    inputs.push_back(in);
    owner[t.spec->id] = &t;
  }
  const SchedulePlan plan = cron_.decide(inputs);
  std::set<std::string> starting;
  for (const auto& d : plan.decisions)
    if (d.kind == ScheduleDecision::Kind::kStart) starting.insert(d.schedule_id);
  // At most once: persist the new state first, then act (nothing starts whose state is unsaved).
  std::set<std::string> unsaved;
  for (const auto& [id, t] : plan.last_nominal) {
    const ScheduleSpec& spec = *owner.at(id)->spec;
    store::ScheduleState st;
    if (auto old = store_.get_schedule(id); old && old.value()) st = *old.value();
    st.name = id;
    st.pipeline_file = owner.at(id)->pipeline_file.string();
    st.kind = "cron";
    st.cron = spec.expression;
    st.timezone = spec.timezone;
    st.last_nominal_fire = unix_of(t);
    if (starting.count(id)) st.last_started_at = unix_of(clock_.now());
    if (auto s = store_.put_schedule(st); !s) {
      log("error: " + s.message());
      unsaved.insert(id);
    }
  }
  for (const auto& d : plan.decisions) {
    const std::string when = format_local_iso(d.nominal, "UTC");
    using Kind = ScheduleDecision::Kind;
    if (d.kind == Kind::kCancel) {
      if (!unsaved.count(d.schedule_id)) cancel(d.run_id, d.reason);
    } else if (d.kind == Kind::kSkipped || d.kind == Kind::kMissed) {
      std::string why = d.reason;
      auto it = flights.find(d.schedule_id);
      if (why.rfind("concurrency forbid: a run", 0) == 0 && it != flights.end()) {
        why += ": " + describe_all(it->second);
      }
      log(std::string(to_string(d.kind)) + " " + d.schedule_id + ": " + std::to_string(d.count) +
          " fire(s) up to " + when + " (" + why + ")");
    } else if (unsaved.count(d.schedule_id)) {
      log("error: not starting " + d.schedule_id + " @ " + when +
          ": its state could not be saved (a restart could start it twice)");
    } else {
      store::ScheduleFire fire;
      fire.kind = "cron";
      fire.nominal = unix_of(d.nominal);
      LaunchRequest req;
      req.trigger = "cron";
      req.trigger_info_json =
          nlohmann::json{{"nominal", when}, {"nominal_unix", d.nominal.time_since_epoch().count()}}
              .dump();
      req.label = d.schedule_id + "@" + when;
      launch(*owner.at(d.schedule_id), fire, req, d.schedule_id + " @ " + when);
    }
  }
  return plan.wake_at;
}

}  // namespace llmops::engine
