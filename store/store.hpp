// Store: the SQLite run and lineage store of llmops (one file, `LLMOPS_HOME/llmops.db`).
//
// Owns one writer connection (WAL, foreign_keys=ON, busy_timeout) and the BlobStore beside the
// database. Every state change the engine decides is written here before the engine acts on it.
// Several processes may open the same home at once: writes use BEGIN IMMEDIATE with a busy
// timeout, so a second writer waits instead of failing with "database is locked".
// Thread safety: a Store may be used from several threads; calls are serialised by a mutex.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "llmops/status.hpp"
#include "store/blob_store.hpp"
#include "store/states.hpp"

namespace llmops::store {

// Current schema version written by this binary. A database with a higher one is refused.
int schema_version_supported();

struct NewRun {
  std::string pipeline;       // pipeline name
  std::string pipeline_file;  // path as given
  std::string spec_digest;    // sha256 of the file text
  std::string spec_text;      // the YAML, kept so `resume` runs exactly what was planned
  std::string params_json = "{}";
  std::string trigger = "manual";  // manual | cron | watch | feedback | resume
  std::optional<int64_t> parent_run;
  int cycle = 0;
  std::string trigger_info_json = "{}";  // e.g. nominal fire time, trigger reason
};

struct RunInfo {
  int64_t id = 0;
  std::string pipeline, pipeline_file, spec_digest, spec_text, params_json, trigger;
  std::optional<int64_t> parent_run;
  int cycle = 0;
  std::string trigger_info_json;
  State state = State::kPending;  // pending | running | succeeded | failed | cancelled
  std::string error;
  double created_at = 0, started_at = 0, ended_at = 0;  // unix seconds, 0 when unset
};

struct StepInfo {
  int64_t run_id = 0;
  std::string step;
  State state = State::kPending;  // any State
  std::string reason;             // why skipped / failed
  int attempts = 0;
  double started_at = 0, ended_at = 0;
};

struct ExecutionInfo {
  int64_t id = 0;
  int64_t run_id = 0;
  std::string step;
  int attempt = 0;
  State state = State::kRunning;  // running | succeeded | failed | cached | cancelled
  std::string plugin_id, plugin_version, plugin_digest, cache_key;
  std::string error, log_path;
  double started_at = 0, ended_at = 0;
  std::string external_id;  // where the attempt runs outside the engine ("" when in it)
  // Where it runs as its executor last reported it, as JSON ("{}" when nothing was reported),
  // e.g. {"job": "42", "node": "vm", "state": "RUNNING", "reason": ""} for a Slurm job.
  std::string placement_json = "{}";
};

struct Artifact {
  std::string digest;  // "sha256:<hex>"
  std::string kind;    // dataset | model | report | file | ...
  std::string name;    // output name of the step that first made it
  std::string uri;     // absolute path in the blob store
  int64_t size = 0;
  std::string metadata_json = "{}";
  double created_at = 0;
};

struct Event {
  std::string role;  // input or output name
  Artifact artifact;
};

struct Metric {
  std::string name;
  double value = 0;
  int64_t step = -1;
  double time = 0;
};

// What a step produced, written in one transaction by finish_execution / record_cached.
struct ExecutionResult {
  // succeeded | failed | cancelled; finish_execution refuses the default, so a result whose
  // outcome nobody set is not recorded as anything.
  State state = State::kPending;
  std::string error;
  std::vector<Event> inputs;   // artifacts must exist already or are inserted
  std::vector<Event> outputs;  // inserted if new (digest is the key)
  std::vector<Metric> metrics;
};

struct LineageNode {
  std::string type;   // "artifact" | "execution"
  std::string id;     // digest, or execution id as text
  std::string label;  // artifact: kind/name; execution: "run 3: train (trainer/torch-lm@1.0.0)"
  int depth = 0;
};
struct LineageEdge {
  std::string from,
      to;  // node ids: artifact -> execution (input) or execution -> artifact (output)
  std::string role;
};
struct LineageGraph {
  std::vector<LineageNode> nodes;
  std::vector<LineageEdge> edges;
};

// One row of the `schedules` table: what the cron scheduler remembers about a schedule.
struct ScheduleState {
  std::string name;  // the schedule id ("PIPELINE" or "PIPELINE/ENTRY")
  std::string pipeline_file;
  std::string kind = "cron";  // cron | watch
  std::string cron;
  std::string timezone = "UTC";
  std::string watch_json;                   // watch: {"glob": [...], "poll": s} as scheduled
  std::optional<double> last_nominal_fire;  // cron: unix seconds of the last fire handled
  // watch: digest of the files that started the last run (or, before any, the first seen).
  std::optional<std::string> last_digest;
  std::optional<double> last_started_at;  // unix seconds the scheduler last started a run
  std::optional<int64_t> last_run_id;     // the run of the newest fire that recorded one
  double updated_at = 0;
};

// One process the scheduler started for a schedule (table `schedule_fires`): kept while it is
// in flight, so a restarted scheduler knows what is still running and which run it is.
struct ScheduleFire {
  int64_t id = 0;
  std::string schedule;
  std::string kind;               // cron | watch
  std::string token;              // unique; the run carries it as trigger_info_json.fire
  std::optional<double> nominal;  // cron: the nominal fire time
  std::string digest;             // watch: the digest of the files that started it
  std::optional<int64_t> pid;     // set once the process started
  std::optional<int64_t> run_id;  // set once its run is recorded (linked)
  int64_t runs_before = 0;        // the highest run id when it was recorded
  std::string state;              // starting | running | cancelling | ended
  std::string note;               // how it ended
  double created_at = 0, ended_at = 0;
};

// One deployment change: upserts `deployments` and appends to `deployment_history`.
struct DeploymentRecord {
  std::string name;
  std::string action;           // start | load | canary | rollback | stop
  std::string artifact_digest;  // the model served (must be a known artifact, or empty)
  std::string state;            // running | stopped
  std::string endpoint;
  std::string info_json = "{}";
  std::optional<int64_t> run_id, execution_id;
  double created_at = 0;  // unix seconds; set by deployment_history, ignored by record_deployment
};

struct DeploymentInfo {
  std::string name, artifact_digest, state, endpoint, info_json;
  std::optional<int64_t> run_id, execution_id;
  double updated_at = 0;
};

// The engine executing a run (store/leases.cpp): one at a time.
struct RunOwner {
  std::string token;  // unique per acquisition
  int64_t pid = 0;
  int64_t pid_start = 0;  // the process's start in clock ticks since boot (0: unknown)
  std::string host;
  double acquired_at = 0, heartbeat_at = 0;  // unix seconds
  bool cancel_requested = false;
};

// Something wrong the store found with a blob, and what it did about it.
struct BlobIncident {
  int64_t id = 0;
  std::string digest;
  double found_at = 0;
  std::string problem;         // e.g. "missing", "size 12 != 40", "content changed"
  std::string action;          // e.g. "quarantined; the producer runs again"
  std::string quarantined_to;  // where the bad bytes went ("" when none)
  std::optional<int64_t> run_id;
  std::string step;
};

// Retention (store/gc.cpp, `llmops gc`). A run is kept when it is one of the newest `keep_runs`
// of its pipeline, pending or running (or leased), named by a deployment (current or history;
// also the newest run that made a model served now) or a schedule (its last run, a fire in
// flight), or when a kept run needs it: its parent run, the run of the trigger that started it,
// or the newest run that produced an input of it which no kept run produced. Every other run goes
// with its steps, executions, events, metrics, triggers and ended fires; then the artifacts
// nothing refers to any more, and their blobs.
struct GcOptions {
  int keep_runs = 10;  // newest runs kept per pipeline (>= 0)
  // Decide and measure exactly as for real, then roll back and delete nothing.
  bool dry_run = false;
  // The folder holding one folder per run, named by run id (the engine's run_dir); those of
  // removed runs go too, and leftovers with no run. Empty: run folders are left alone.
  std::filesystem::path runs_root;
  // A blob that no artifact names (sealed by a run that has not recorded it yet, or left by a
  // killed process or an interrupted gc) goes only once its inode is older than this.
  double orphan_grace_s = 3600;
};

struct GcRun {
  int64_t id = 0;
  std::string pipeline;
  State state = State::kPending;
  double created_at = 0;
};

struct GcReport {
  bool dry_run = false;
  int keep_runs = 0;
  std::vector<GcRun> removed_runs;  // newest first
  // Runs kept, by their first reason in this order.
  int64_t kept_newest = 0, kept_in_flight = 0, kept_deployed = 0, kept_scheduled = 0,
          kept_lineage = 0;
  int64_t steps_removed = 0, executions_removed = 0, artifacts_removed = 0;
  int64_t blobs_removed = 0, blob_bytes = 0;                // blobs of the removed artifacts
  int64_t orphan_blobs_removed = 0, orphan_blob_bytes = 0;  // blobs no artifact names, temp files
  int64_t run_dirs_removed = 0, run_dir_bytes = 0;          // run folders (removed runs, leftovers)
  std::vector<std::string> warnings;  // files that could not be removed (the database is done)
  int64_t runs_kept() const {
    return kept_newest + kept_in_flight + kept_deployed + kept_scheduled + kept_lineage;
  }
  int64_t bytes_freed() const { return blob_bytes + orphan_blob_bytes + run_dir_bytes; }
};

// What the web UI (ui/) lists and filters: store/ui_reads.cpp.
struct RunFilter {
  std::string pipeline;             // "" = any
  std::vector<std::string> states;  // empty = any
  std::string trigger;              // "" = any
  std::optional<int64_t> before;    // only runs with id < before (keyset paging)
  int limit = 50;
};
struct RunPage {
  std::vector<RunInfo> runs;           // newest first, without spec_text
  std::optional<int64_t> next_before;  // pass as `before` for the next page; nullopt at the end
};
struct MetricPoint {
  int64_t run_id = 0, execution_id = 0;
  std::string step;
  int attempt = 0;
  Metric metric;
};
// An artifact with the execution that output it.
struct ProducedArtifact {
  Artifact artifact;
  int64_t run_id = 0, execution_id = 0;
  std::string step, pipeline, plugin_id, role;
};
// One use of an artifact by an execution (direction "input" or "output").
struct ArtifactUse {
  int64_t run_id = 0, execution_id = 0;
  std::string step, direction, role;
};
// An action taken on the store's runs or deployments by a person (the web UI's audit log).
struct ActionRecord {
  int64_t id = 0;
  double created_at = 0;
  std::string actor, action, target, detail_json = "{}", outcome;
};

class Store {
 public:
  // Opens (creating when needed) `home`/llmops.db and `home`/blobs, running pending migrations.
  static Result<std::unique_ptr<Store>> open(const std::filesystem::path& home);
  // A read-only connection for viewers (the web UI): never creates or migrates the database
  // (not_found when it is missing; precondition "schema_too_new: ..." or "schema_too_old: ..."
  // when its version is not this llmops's), writes nothing, runs no checkpointer.
  static Result<std::unique_ptr<Store>> open_reader(const std::filesystem::path& home);
  ~Store();

  const std::filesystem::path& home() const;
  BlobStore& blobs();

  // Groups the writes of several calls into one transaction: one commit, one WAL append, instead
  // of one per call (the runner opens one per scheduling round). Every call inside stays
  // all-or-nothing through a savepoint. commit() makes the writes durable; a batch destroyed
  // without commit() rolls them all back. One batch at a time, used from one thread; calls made
  // meanwhile from other threads join it.
  class Batch {
   public:
    ~Batch();
    Batch(Batch&& other) noexcept;
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;
    Batch& operator=(Batch&&) = delete;
    Status commit();

   private:
    friend class Store;
    explicit Batch(Store* store) : store_(store) {}
    Store* store_;
  };
  // Fails when a batch is already open.
  Result<Batch> batch();

  // Runs and their planned steps (all `pending`), in one transaction.
  Result<int64_t> create_run(const NewRun& run, const std::vector<std::string>& steps);
  // A run takes pending, running or a terminal state other than skipped and cached.
  Status set_run_state(int64_t run_id, State state, const std::string& error = "");
  Status set_step_state(int64_t run_id, const std::string& step, State state,
                        const std::string& reason = "");
  Result<RunInfo> get_run(int64_t run_id);
  Result<std::vector<RunInfo>> list_runs(int limit = 50);
  Result<std::vector<StepInfo>> list_steps(int64_t run_id);

  // Executions: one per attempt. begin marks the step running and bumps its attempt count.
  Result<int64_t> begin_execution(int64_t run_id, const std::string& step, int attempt,
                                  const std::string& plugin_id, const std::string& plugin_version,
                                  const std::string& plugin_digest, const std::string& cache_key,
                                  const std::string& log_path);
  // Execution state, artifacts, input/output events, metrics and the step state in one transaction.
  Status finish_execution(int64_t execution_id, const ExecutionResult& result);
  // The attempt's id outside the engine (a pid, a Slurm job id), for reattaching to it.
  Status set_execution_external_id(int64_t execution_id, const std::string& external_id);
  Status set_execution_placement(int64_t execution_id, const std::string& placement_json);
  // Marks executions left `running` by a killed engine as failed ("interrupted"), except those in
  // `keep` (reattached); returns how many.
  Result<int> fail_interrupted(int64_t run_id, const std::vector<int64_t>& keep = {});
  Result<std::vector<ExecutionInfo>> list_executions(int64_t run_id);
  // The executions of a run that ran outside the engine (external_id set), in id order.
  Result<std::vector<ExecutionInfo>> list_external_executions(int64_t run_id);
  Result<std::vector<Event>> execution_events(int64_t execution_id, bool outputs);
  Result<std::vector<Metric>> execution_metrics(int64_t execution_id);

  // --- Paged reads for `llmops show` (store/executions.cpp): a fixed number of queries per
  // page, each using an index, so reading a page costs what the page holds. ---
  struct StepPage {
    std::vector<StepInfo> steps;  // in plan order
    int64_t total = 0;            // steps the run has
  };
  // `limit` steps (all when < 0) from `offset` (0-based), in plan order. not_found: no such run.
  Result<StepPage> list_steps_page(int64_t run_id, int64_t offset, int64_t limit);
  struct ExecutionDetail {
    ExecutionInfo info;
    std::vector<Event> inputs, outputs;  // in recorded order
    std::vector<Metric> metrics;         // in recorded order
  };
  // Every execution of these steps of the run, oldest first, with its events and metrics.
  Result<std::vector<ExecutionDetail>> execution_details(int64_t run_id,
                                                         const std::vector<std::string>& steps);
  // One step of a run; nullopt when the run has no such step.
  Result<std::optional<StepInfo>> get_step(int64_t run_id, const std::string& step);
  // --- end of the paged reads ---

  // The latest succeeded (or cached) execution with this cache key, if any.
  Result<std::optional<ExecutionInfo>> find_cached(const std::string& cache_key);
  // Records a `cached` execution that reuses outputs, with its input and output events.
  Result<int64_t> record_cached(int64_t run_id, const std::string& step,
                                const std::string& plugin_id, const std::string& plugin_version,
                                const std::string& plugin_digest, const std::string& cache_key,
                                const ExecutionResult& result);

  // Deployments: current state per name and the append-only history (store/deployments.cpp).
  Status record_deployment(const DeploymentRecord& d);
  Result<std::vector<DeploymentInfo>> list_deployments();
  Result<std::vector<DeploymentRecord>> deployment_history(const std::string& name);

  Result<std::vector<Artifact>> list_artifacts(int limit = 100);
  // Artifacts whose digest starts with `prefix` (with or without "sha256:").
  Result<std::vector<Artifact>> find_artifacts(const std::string& prefix);

  // Schedules (store/schedules.cpp).
  Result<std::vector<ScheduleState>> list_schedules();
  Result<std::optional<ScheduleState>> get_schedule(const std::string& name);
  // Inserts or replaces the row named `state.name` (updated_at is set to now).
  Status put_schedule(const ScheduleState& state);
  // Runs with trigger 'cron' or 'watch' started by schedule `name` (trigger_info_json.schedule)
  // that are still pending or running, oldest first.
  Result<std::vector<int64_t>> schedule_runs_in_flight(const std::string& name);
  // Fires (store/schedule_fires.cpp). Records a fire about to start (state `starting`, a fresh
  // token, runs_before) and returns it.
  Result<ScheduleFire> add_schedule_fire(const ScheduleFire& fire);
  // Sets the state (and, for `running`, the pid; `ended` also sets ended_at and the note).
  Status set_schedule_fire_state(int64_t fire, const std::string& state,
                                 std::optional<int64_t> pid = std::nullopt,
                                 const std::string& note = "");
  // Fires not ended, oldest first (all schedules when `schedule` is empty).
  Result<std::vector<ScheduleFire>> open_schedule_fires(const std::string& schedule = "");
  // Finds the run whose trigger_info_json.fire is the fire's token; when found, links it and sets
  // the schedule's last_run_id (when no newer fire of it has a run). Returns the run, if any.
  Result<std::optional<int64_t>> link_schedule_fire(int64_t fire);
  // Runs of `name` in flight that no fire knows (started before fires were recorded).
  Result<std::vector<int64_t>> schedule_runs_untracked(const std::string& name);

  // Run ownership (store/leases.cpp). Makes `me` the owner of the run unless another owner holds
  // it and `alive(owner)` says it still runs; returns that owner (nullopt: `me` now owns it). The
  // check and the take-over are one transaction, so two claimants cannot both win.
  Result<std::optional<RunOwner>> claim_run(int64_t run_id, const RunOwner& me,
                                            const std::function<bool(const RunOwner&)>& alive);
  // The owner's heartbeat; returns whether a cancel was requested. not_found: `token` no longer
  // owns the run (another engine took it over).
  Result<bool> heartbeat_run(int64_t run_id, const std::string& token);
  // Gives the run up (nothing when `token` no longer owns it).
  Status release_run(int64_t run_id, const std::string& token);
  Result<std::optional<RunOwner>> run_owner(int64_t run_id);
  // Asks the run's owner to cancel it; not_found when the run has no owner.
  Status request_cancel(int64_t run_id);
  // Ends a run that its engine can no longer finish, in one transaction: attempts left running
  // fail with `why`; with `state` cancelled every unfinished step is `cancelled`, with failed the
  // running ones are `failed` (pending ones stay pending for a resume); the run takes `state`
  // and `why`. Returns how many steps changed.
  Result<int> end_run(int64_t run_id, State state, const std::string& why);

  // Disk space held back for the writes that record a failure (store/health.cpp): a file of
  // $LLMOPS_DISK_RESERVE bytes (default 4 MiB) beside the database, made when the store opens
  // and there is room. release_reserve() deletes it when the disk is full, so that the error
  // can still be written; returns whether anything was freed.
  bool release_reserve();

  // Health (store/health.cpp). Blob incidents: recorded when a blob is found missing or changed.
  Status record_blob_incident(const BlobIncident& incident);
  Result<std::vector<BlobIncident>> list_blob_incidents(int limit = 100);
  // Every artifact row (digest, uri, size, kind), for checking the blob store against them.
  Result<std::vector<Artifact>> all_artifacts();
  // What SQLite's integrity_check and foreign_key_check report (empty: healthy).
  Result<std::vector<std::string>> integrity_problems();

  // Lineage from artifacts (digests) walking producers (upstream) or consumers (downstream),
  // breadth first, `depth` execution hops at most; each node once, at its smallest depth.
  Result<LineageGraph> lineage(const std::vector<std::string>& start_digests, bool upstream,
                               int depth);

  // Removes old runs and what only they referred to (see GcOptions): the rows in one transaction
  // (refused inside a Batch), then, once committed, their blobs and run folders.
  Result<GcReport> collect_garbage(const GcOptions& options);

  // Reads for the web UI (store/ui_reads.cpp).
  Result<RunPage> list_runs_filtered(const RunFilter& filter);
  Result<std::vector<std::string>> list_pipelines();
  // run -> state -> number of steps.
  Result<std::map<int64_t, std::map<std::string, int64_t>>> step_counts(
      const std::vector<int64_t>& runs);
  // parent run -> its feedback runs, ascending.
  Result<std::map<int64_t, std::vector<int64_t>>> feedback_children(
      const std::vector<int64_t>& runs);
  // Runs with id > after_id, pending/running ones, `ids`, and those that ended after
  // `ended_after` (a run resumed and ended again between two looks), without spec_text.
  Result<std::vector<RunInfo>> runs_changed(int64_t after_id, const std::vector<int64_t>& ids,
                                            double ended_after);
  Result<std::vector<std::string>> metric_names(const std::vector<int64_t>& runs);
  Result<std::vector<MetricPoint>> metric_series(const std::vector<int64_t>& runs,
                                                 const std::string& name);
  // Outputs of `kind`, newest first (plugin_prefix: only executions of plugins starting so).
  Result<std::vector<ProducedArtifact>> outputs_by_kind(const std::string& kind,
                                                        const std::string& plugin_prefix,
                                                        const std::string& pipeline, int limit);
  Result<std::vector<ArtifactUse>> artifact_uses(const std::string& digest);
  // SQLite's PRAGMA data_version: changes when another connection commits.
  Result<int64_t> data_version();
  Result<int> schema_version();
  Result<int64_t> record_action(const ActionRecord& action);
  Result<std::vector<ActionRecord>> list_actions(const std::string& target, int limit);

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace llmops::store
