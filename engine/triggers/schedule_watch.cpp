// ScheduleDaemon: watch entries (see engine/triggers/schedule_daemon.hpp for the semantics).
#include <cmath>

#include "engine/triggers/schedule_daemon.hpp"

namespace llmops::engine {

namespace {

using std::chrono::seconds;

seconds whole_seconds(double s) {
  return seconds(static_cast<long long>(std::ceil(std::max(s, 1.0))));
}

// The files recorded on a run: all of them up to a size that still fits an environment variable
// (the daemon hands the trigger info to `llmops run` that way); the count is always there.
nlohmann::json file_list(const WatchSnapshot& snap) {
  constexpr size_t kBudget = 64 * 1024;
  nlohmann::json files = nlohmann::json::array();
  size_t used = 0;
  for (const auto& f : snap.files) {
    used += f.path.size() + 4;
    if (used > kBudget) break;
    files.push_back(f.path);
  }
  return files;
}

std::string short_digest(const std::string& digest) {
  const auto colon = digest.find(':');
  return digest.substr(0,
                       std::min(digest.size(), (colon == std::string::npos ? 0 : colon + 1) + 12));
}

}  // namespace

std::optional<SysSeconds> ScheduleDaemon::tick_watch(const ScheduleTarget& t,
                                                     const Flights& flights, SysSeconds now) {
  const ScheduleSpec& spec = *t.spec;
  const WatchSpec& w = *spec.watch;
  WatchMemory& mem = watches_[spec.id];
  if (spec.suspend) {
    mem.next_poll.reset();  // polled at once when the suspension is lifted
    return std::nullopt;
  }
  if (mem.next_poll && now < *mem.next_poll) return mem.next_poll;
  mem.next_poll = now + whole_seconds(w.poll_s);
  auto say_once = [&](const std::string& line) {
    if (mem.said == line) return;
    mem.said = line;
    log(line);
  };

  auto snap = snapshot_watch(w, options_.watch_base, mem.cache);
  if (!snap) {
    say_once("warning: watch " + spec.id + ": " + snap.status().message());
    return mem.next_poll;
  }
  auto st = store_.get_schedule(spec.id);
  if (!st) {
    log("error: " + st.status().message());
    return mem.next_poll;
  }
  store::ScheduleState state;
  if (st.value()) state = *st.value();
  state.name = spec.id;
  state.pipeline_file = t.pipeline_file.string();
  state.kind = "watch";
  state.cron.clear();
  state.watch_json = nlohmann::json{{"glob", w.globs}, {"poll", w.poll_s}}.dump();
  if (!state.last_digest) {
    // First look: what is there now is the baseline; a run starts when it changes.
    state.last_digest = snap->digest;
    if (auto s = store_.put_schedule(state); !s) log("error: " + s.message());
    mem.looked = true;
    log("watch " + spec.id + ": first look, " + std::to_string(snap->files.size()) +
        " file(s) (digest " + short_digest(snap->digest) + "); a change starts a run");
    return mem.next_poll;
  }
  if (!mem.looked && snap->digest == *state.last_digest) {
    log("watch " + spec.id + ": " + std::to_string(snap->files.size()) +
        " file(s), unchanged since the last run it started (digest " + short_digest(snap->digest) +
        ")");
  }
  mem.looked = true;
  if (snap->digest == *state.last_digest || snap->files.empty()) {
    mem.seen_digest.clear();
    mem.said.clear();
    return mem.next_poll;
  }
  if (w.settle_s > 0) {
    if (mem.seen_digest != snap->digest) {
      mem.seen_digest = snap->digest;
      mem.seen_since = now;
    }
    const SysSeconds ready = mem.seen_since + whole_seconds(w.settle_s);
    if (now < ready) {
      if (ready < *mem.next_poll) mem.next_poll = ready;
      say_once("watch " + spec.id + ": change seen (digest " + short_digest(snap->digest) +
               "); waiting for it to settle");
      return mem.next_poll;
    }
  }
  const auto busy = flights.find(spec.id);
  if (busy != flights.end() && !busy->second.empty()) {
    if (spec.concurrency == ConcurrencyPolicy::kForbid) {
      say_once("watch " + spec.id + ": new data (digest " + short_digest(snap->digest) +
               ") waits: " + describe_all(busy->second) + " in flight (concurrency forbid)");
      return mem.next_poll;
    }
    if (spec.concurrency == ConcurrencyPolicy::kReplace) {
      for (int64_t h : busy->second) cancel(h, "concurrency replace: new data");
    }
  }
  // At most once: the digest that starts this run is stored before the process starts.
  state.last_digest = snap->digest;
  state.last_started_at = static_cast<double>(now.time_since_epoch().count());
  if (auto s = store_.put_schedule(state); !s) {
    log("error: " + s.message());
    return mem.next_poll;
  }
  mem.seen_digest.clear();
  mem.said.clear();
  store::ScheduleFire fire;
  fire.kind = "watch";
  fire.digest = snap->digest;
  LaunchRequest req;
  req.trigger = "watch";
  nlohmann::json info = {{"watch", w.globs},
                         {"digest", snap->digest},
                         {"files", file_list(*snap)},
                         {"files_total", snap->files.size()},
                         {"detected", format_local_iso(now, "UTC")}};
  req.trigger_info_json = info.dump();
  req.label = spec.id + "@" + format_local_iso(now, "UTC");
  launch(t, fire, req,
         spec.id + " on new data: " + std::to_string(snap->files.size()) + " file(s), digest " +
             short_digest(snap->digest));
  return mem.next_poll;
}

}  // namespace llmops::engine
