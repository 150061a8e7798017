// ScheduleSpec: one entry of a pipeline's `schedule:` block, typed and checked by the loader.
//
// A pipeline's `schedule:` is either one mapping or a list of mappings; each becomes a ScheduleSpec
// (PipelineSpec::schedules, in file order). An entry is either a cron entry (`cron:`) or a watch
// entry (`watch:`, a sensor on files). The cron expression and time zone have already been parsed
// (CronSpec) when the loader accepted the entry, so exactly one of `cron` and `watch` is set on a
// spec that loaded without errors. The decisions made from these fields live in
// engine/triggers/cron_scheduler.hpp (cron) and engine/triggers/schedule_daemon.hpp (watch).
// Plain data; not synchronised.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/spec/pipeline_pos.hpp"
#include "engine/triggers/cron.hpp"

namespace llmops::engine {

// What to do when a fire comes while an earlier run of the same schedule is still going
// (Kubernetes CronJob's concurrencyPolicy).
enum class ConcurrencyPolicy {
  kAllow,    // start the new run beside it
  kForbid,   // skip the new fire (recorded as skipped)
  kReplace,  // cancel the running one, then start the new run
};

// What to do with fires missed while the scheduler was down (or busy).
enum class CatchupPolicy {
  kNone,    // forget them: the next fire is the first one after now
  kLatest,  // start only the most recent missed fire
  kAll,     // start every missed fire, oldest first, up to max_catchup (then only the latest)
};

const char* to_string(ConcurrencyPolicy p);
const char* to_string(CatchupPolicy p);

// A `watch:` trigger: a run starts when the set of files matching `globs`, or the content of one
// of them, differs from what started the previous run (engine/triggers/watch.hpp computes the
// digest).
struct WatchSpec {
  std::vector<std::string> globs;  // relative to the scheduler's working folder, or absolute
  double poll_s = 60;              // how often the files are looked at
  double settle_s = 0;             // a change must stay unchanged this long before it starts a run
};

struct ScheduleSpec {
  // Unique within the pipeline: the pipeline name for a single mapping, "PIPELINE/NAME" for a list
  // entry with a `name:`, "PIPELINE/N" (1-based) for one without. The store keys state by it.
  std::string id;
  std::string name;        // the entry's `name:`, or empty
  std::string expression;  // cron entries
  std::string timezone = "UTC";
  std::optional<CronSpec> cron;    // set when the expression is valid (cron entries)
  std::optional<WatchSpec> watch;  // set for a watch entry
  nlohmann::json params = nlohmann::json::object();           // overrides for the runs it starts
  ConcurrencyPolicy concurrency = ConcurrencyPolicy::kAllow;  // as Kubernetes' default
  CatchupPolicy catchup = CatchupPolicy::kLatest;
  int max_catchup = 10;                       // for catchup: all
  std::optional<double> starting_deadline_s;  // none: a late fire may start however late
  double jitter_s = 0;                        // random delay in [0, jitter_s)
  bool suspend = false;
  SourcePos pos;        // the entry (or the `schedule:` key for a mapping)
  SourcePos cron_pos;   // the `cron:` value
  SourcePos watch_pos;  // the `watch:` value

  bool is_watch() const { return watch.has_value(); }
};

}  // namespace llmops::engine
