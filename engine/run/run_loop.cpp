#include "engine/run/run_loop.hpp"

#include <cstdio>
#include <map>

#include "engine/exec/step_context.hpp"
#include "engine/run/trigger_info.hpp"
#include "llmops/artifacts.hpp"

namespace fs = std::filesystem;

namespace llmops::engine {

fs::path run_dir(const fs::path& home, int64_t run_id) {
  return home / "runs" / std::to_string(run_id);
}

// One attempt in flight.
struct RunLoop::Flight {
  int step = -1;
  int64_t execution_id = 0;
  std::shared_ptr<StepRequest> request;
  std::vector<store::Event> inputs;
  std::string cancel_reason;  // why the engine asked the step to stop
  Executor* executor = nullptr;
};

namespace {

SchedOptions sched_options(const RunLoopOptions& o, int64_t run_id) {
  SchedOptions so;
  so.max_parallel = std::max(1, o.max_parallel);
  so.fail_fast = o.fail_fast;
  so.grace_s = o.grace_s;
  so.cpu_capacity = o.cpu_capacity;
  so.memory_capacity = o.memory_capacity;
  so.seed = uint64_t(run_id);
  return so;
}

// The run's parameters: as recorded with it (a resumed run keeps its `-p` values).
nlohmann::json run_params(const Plan& plan, const store::RunInfo& run) {
  auto params = nlohmann::json::parse(run.params_json, nullptr, false);
  return params.is_object() ? params : plan.spec().param_values;
}

}  // namespace

RunLoop::RunLoop(const Plan& plan, store::RunInfo run, store::Store& store, PluginCatalog& catalog,
                 RunRecorder& recorder, const ExecutorMap& executors, Clock& clock,
                 RunLoopOptions options)
    : plan_(plan),
      run_(std::move(run)),
      store_(store),
      catalog_(catalog),
      rec_(recorder),
      executors_(executors),
      clock_(clock),
      opt_(std::move(options)),
      core_(plan.sched_steps(), sched_options(opt_, run_.id)),
      scope_(run_params(plan, run_), run_.id, run_.cycle),
      prep_(store, catalog, scope_, opt_.no_cache),
      run_dir_(run_dir(store.home(), run_.id)) {
  extra_inputs_ = TriggerInfo::parse(run_.trigger_info_json).extra_inputs;
  // Sealing (hashing, moving into the blob store) runs on the thread that completes the
  // attempt, so a large model never holds up the loop.
  // A failed attempt's work folder goes too: partial outputs would only fill the disk (its log
  // is kept beside the run).
  inbox_ = std::make_shared<CompletionQueue>([st = &store, run = run_.id](Completion& c) {
    std::error_code ec;
    if (c.result.status.is_ok()) {
      auto sealed = seal_outputs(*st, run, c.result.outputs);
      if (sealed)
        c.sealed = std::move(sealed.value());
      else
        c.result.status = sealed.status();
    }
    if (!c.work_dir.empty()) fs::remove_all(c.work_dir, ec);
  });
}

// Attempts abandoned to a plugin that ignores cancellation may still complete or report progress:
// from here on they reach nothing of this loop (nor the store through the sealing hook).
RunLoop::~RunLoop() {
  inbox_->close();
}

void RunLoop::emit(RunEvent ev) {
  if (opt_.on_event) opt_.on_event(ev);
}

Executor& RunLoop::executor_for(int step) {
  auto it = executors_.find(plan_.steps()[step].executor);
  if (it == executors_.end()) it = executors_.find("inprocess");
  return *it->second;
}

std::shared_ptr<StepRequest> RunLoop::make_request(int i, int attempt) {
  const StepSpec& s = *plan_.steps()[i].spec;
  auto req = std::make_shared<StepRequest>();
  req->run_id = run_.id;
  req->step = s.name;
  req->attempt = attempt;
  req->plugin = *plan_.steps()[i].plugin;
  req->work_dir = run_dir_ / "work" / s.name / std::to_string(attempt);
  req->log_path = run_dir_ / (s.name + ".log");
  const auto& res = plan_.steps()[i].resources;
  req->memory_limit = res.memory;
  req->cpus = res.cpus;
  req->gpus = res.gpus;
  req->timeout_s = plan_.steps()[i].timeout_s;
  req->pipeline = plan_.spec().name;
  req->slurm = plan_.steps()[i].slurm;
  req->on_progress = [this, inbox = inbox_, name = s.name](double d, double t,
                                                           const std::string& n) {
    inbox->if_open([&] { emit({RunEvent::kProgress, name, StepState::kRunning, 0, n, d, t}); });
  };
  return req;
}

uint64_t RunLoop::track(int step, uint64_t token, int64_t execution_id,
                        std::shared_ptr<StepRequest> request, std::vector<store::Event> inputs,
                        Executor& executor) {
  auto f = std::make_unique<Flight>();
  f->step = step;
  f->execution_id = execution_id;
  f->request = std::move(request);
  f->inputs = std::move(inputs);
  f->executor = &executor;
  // Recorded from the executor's thread: the store serialises its writes, and a failed one only
  // costs the operator this view (the step log says so).
  f->request->on_placement = [st = &store_, inbox = inbox_, execution_id,
                              log = f->request->log_path](const nlohmann::json& where) {
    inbox->if_open([&] {
      Status s = st->set_execution_placement(execution_id, where.dump());
      if (!s.is_ok())
        append_step_log(log, LogLevel::kWarn, "could not record where it runs: " + s.message());
    });
  };
  live_token_[step] = token;
  flights_[token] = std::move(f);
  return token;
}

Status RunLoop::restore() {
  auto prior = store_.list_steps(run_.id);
  if (!prior) return prior.status();
  auto execs = store_.list_executions(run_.id);
  if (!execs) return execs.status();
  // Resume: finished steps keep what their latest good execution recorded, when its outputs are
  // still there and intact; a step whose outputs are not runs again, and so does everything
  // downstream of it (what it makes next may differ).
  struct Adopted {
    const store::StepInfo* info;
    const store::ExecutionInfo* last;  // its latest good execution
    std::vector<store::Event> outputs;
  };
  std::map<std::string, const store::ExecutionInfo*> last_good;  // executions come in id order
  for (const auto& e : execs.value())
    if (is_success(e.state)) last_good[e.step] = &e;
  std::map<int, Adopted> adopted;
  std::vector<bool> redo(plan_.steps().size(), false);
  for (const auto& ps : prior.value()) {
    auto i = plan_.index(ps.step);
    if (!i) continue;
    if (!is_success(ps.state)) {
      core_.set_attempts(*i, ps.attempts);  // a resumed step's attempts go on counting
      continue;
    }
    auto found = last_good.find(ps.step);
    if (found == last_good.end()) continue;
    const store::ExecutionInfo* last = found->second;
    auto outs = store_.execution_events(last->id, true);
    if (!outs) return outs.status();
    for (const auto& ev : outs.value()) {
      auto bad =
          guard_artifact(store_, ev.artifact, run_.id, ps.step, "the step runs again on resume");
      if (!bad) return bad.status();
      if (bad->empty()) continue;
      redo[*i] = true;
      append_step_log(run_dir_ / (ps.step + ".log"), LogLevel::kWarn,
                      "output '" + ev.role + "' (" + ev.artifact.digest + ") is " + *bad +
                          ": the step runs again");
    }
    adopted[*i] = {&ps, last, std::move(outs.value())};
  }
  for (size_t i = 0; i < plan_.steps().size(); ++i)
    for (int n : plan_.steps()[i].needs) redo[i] = redo[i] || redo[size_t(n)];
  for (auto& [i, a] : adopted) {
    const store::StepInfo& ps = *a.info;
    if (redo[size_t(i)]) {
      rec_.step_state(ps.step, StepState::kPending, "its inputs or outputs are made again");
      continue;
    }
    auto mets = store_.execution_metrics(a.last->id);
    if (!mets) return mets.status();
    auto& view = scope_.step(ps.step);
    view.state = ps.state;
    for (const auto& ev : a.outputs) view.outputs[ev.role] = ev.artifact;
    for (const auto& m : mets.value()) view.metrics[m.name] = m.value;
    core_.preset(i, ps.state);
  }
  // Attempts an earlier engine left running outside itself (a job, a process): reattached where
  // their executor can find them; the others died with that engine and are recorded as
  // interrupted (their steps run again).
  std::vector<int64_t> kept;
  for (const auto& e : execs.value()) {
    auto i = plan_.index(e.step);
    if (e.state != StepState::kRunning || e.external_id.empty() || !i) continue;
    if (core_.state(*i) != StepState::kPending) continue;
    auto req = make_request(*i, e.attempt);
    auto ex_it = extra_inputs_.find(e.step);
    auto prepared = prep_.prepare(*plan_.steps()[*i].spec, *plan_.steps()[*i].plugin, *req,
                                  ex_it == extra_inputs_.end() ? nullptr : &ex_it->second,
                                  /*lookup_cache=*/false);
    if (!prepared) continue;
    const uint64_t token = next_token_++;
    Executor& executor = executor_for(*i);
    if (Status s = executor.reattach(token, req, e.external_id, inbox_); !s.is_ok()) {
      append_step_log(req->log_path, LogLevel::kWarn,
                      "attempt " + std::to_string(e.attempt) + " (" + e.external_id +
                          ") is lost: " + s.message());
      continue;
    }
    track(*i, token, e.id, std::move(req), std::move(prepared->input_events), executor);
    core_.set_attempts(*i, e.attempt);
    core_.adopt(*i, e.attempt, clock_.now());
    kept.push_back(e.id);
    emit({RunEvent::kState, e.step, StepState::kRunning, e.attempt,
          "reattached to " + e.external_id});
  }
  return rec_.fail_interrupted(kept);
}

void RunLoop::launch(int i, int attempt) {
  const PlannedStep& ps = plan_.steps()[i];
  const StepSpec& s = *ps.spec;
  const PluginInfo& p = *ps.plugin;
  auto req = make_request(i, attempt);
  if (!s.when.empty()) {
    auto w = evaluate_condition(s.when, scope_);
    if (!w) {
      const std::string why = "when: " + w.status().message();
      core_.on_finished(i, false, false, clock_.now());
      rec_.step_state(s.name, core_.state(i), why);
      emit({RunEvent::kState, s.name, core_.state(i), attempt, why});
      return;
    }
    if (!w.value()) {
      core_.mark_skipped(i);
      const std::string why = "when: " + s.when + " is false";
      rec_.step_state(s.name, StepState::kSkipped, why);
      scope_.step(s.name).state = StepState::kSkipped;
      emit({RunEvent::kState, s.name, StepState::kSkipped, attempt, why});
      return;
    }
  }
  auto ex_it = extra_inputs_.find(s.name);
  auto prepared =
      prep_.prepare(s, p, *req, ex_it == extra_inputs_.end() ? nullptr : &ex_it->second);
  const double now = clock_.now();
  if (!prepared) {
    // Bad template values or inputs: the attempt fails before it starts.
    const std::string why = prepared.status().message();
    auto ex = rec_.begin_attempt(s.name, attempt, p.id, p.version, catalog_.library_digest(p), "",
                                 req->log_path.string());
    if (ex) rec_.finish_attempt(ex.value(), {StepState::kFailed, why, {}, {}, {}});
    append_step_log(req->log_path, LogLevel::kError, why);
    auto fr = core_.on_finished(i, false, false, now);
    emit({RunEvent::kState, s.name, fr.state, attempt, why});
    return;
  }
  if (prepared->cached) {
    rec_.step_state(s.name, StepState::kCached);
    scope_.step(s.name).state = StepState::kCached;
    core_.on_finished(i, true, false, now);
    core_.preset(i, StepState::kCached);
    emit({RunEvent::kState, s.name, StepState::kCached, attempt, ""});
    return;
  }
  auto ex = rec_.begin_attempt(s.name, attempt, p.id, p.version, prepared->plugin_digest,
                               prepared->cache_key, req->log_path.string());
  if (!ex) {
    core_.on_finished(i, false, false, now);
    emit({RunEvent::kState, s.name, StepState::kFailed, attempt, ex.status().message()});
    return;
  }
  emit({RunEvent::kState, s.name, StepState::kRunning, attempt, ""});
  to_submit_.push_back(track(i, next_token_++, ex.value(), std::move(req),
                             std::move(prepared->input_events), executor_for(i)));
}

void RunLoop::dispatch() {
  for (uint64_t token : to_submit_) {
    auto it = flights_.find(token);
    if (it == flights_.end()) continue;
    Flight& f = *it->second;
    auto id = f.executor->submit(token, f.request, inbox_);
    if (!id) {
      Completion c;
      c.token = token;
      c.result.status = Status(id.status().code(), "could not start: " + id.status().message());
      inbox_->complete(std::move(c));
    } else if (!id->empty()) {
      rec_.external_id(f.execution_id, id.value());
    }
  }
  to_submit_.clear();
}

void RunLoop::finish(Completion& c) {
  auto fit = flights_.find(c.token);
  if (fit == flights_.end()) return;  // abandoned earlier
  std::unique_ptr<Flight> f = std::move(fit->second);
  flights_.erase(fit);
  if (live_token_[f->step] == c.token) live_token_[f->step] = 0;
  const StepSpec& s = *plan_.steps()[f->step].spec;
  const int attempt = f->request->attempt;
  auto& r = c.result;
  store::ExecutionResult er;
  er.inputs = f->inputs;
  for (const auto& m : r.metrics) er.metrics.push_back({m.name, m.value, m.step, m.time});
  Status status = r.status;
  if (status.is_ok()) er.outputs = std::move(c.sealed);
  const bool was_cancel = f->request->cancel->load();
  // Only a run-wide stop (Ctrl-C, --fail-fast) makes a step `cancelled`; a timeout is a failure.
  const bool timed_out = was_cancel && f->cancel_reason.rfind("timed out", 0) == 0;
  if (!status.is_ok() && timed_out)
    status =
        Status(StatusCode::kDeadlineExceeded, f->cancel_reason + " (" + status.message() + ")");
  er.state = status.is_ok()             ? StepState::kSucceeded
             : was_cancel && !timed_out ? StepState::kCancelled
                                        : StepState::kFailed;
  er.error = status.message();
  rec_.finish_attempt(f->execution_id, er);
  if (rec_.failed()) {  // not recorded: the run ends with this round
    status = rec_.error();
    er.state = StepState::kFailed;
  }
  if (status.is_ok())
    for (const auto& ev : er.outputs)
      if (ev.artifact.kind == artifact_kind::kDeployment)
        deployments_.push_back({f->execution_id, ev});
  if (!status.is_ok())
    append_step_log(
        f->request->log_path, LogLevel::kError,
        "attempt " + std::to_string(attempt) + " " + to_string(er.state) + ": " + status.message());
  // Bad input and permanent failures fail at once: another attempt would fail the same way.
  const bool retryable = status.code() != StatusCode::kInvalidArgument &&
                         status.code() != StatusCode::kFailedPrecondition;
  auto fr =
      core_.on_finished(f->step, status.is_ok(), was_cancel && !timed_out, clock_.now(), retryable);
  if (status.is_ok()) {
    auto& view = scope_.step(s.name);
    view.state = StepState::kSucceeded;
    for (const auto& ev : er.outputs) view.outputs[ev.role] = ev.artifact;
    for (const auto& m : er.metrics) view.metrics[m.name] = m.value;
    std::string note;
    for (auto& t : r.triggers) {
      t.step = s.name;
      summary_.triggers.push_back(t);
      note += (note.empty() ? "raised " : "; raised ") + t.kind + ": " + t.reason;
    }
    emit({RunEvent::kState, s.name, StepState::kSucceeded, attempt, note});
  } else if (fr.retry_at) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "retry in %.1fs", fr.retry_delay);
    rec_.step_state(s.name, StepState::kPending, std::string(buf) + " after: " + status.message());
    emit({RunEvent::kRetry, s.name, StepState::kPending, attempt,
          std::string(buf) + ": " + status.message()});
  } else {
    scope_.step(s.name).state = fr.state;
    rec_.step_state(s.name, fr.state, status.message());
    emit({RunEvent::kState, s.name, fr.state, attempt, status.message()});
  }
}

void RunLoop::apply(const SchedAction& a) {
  const std::string& name = plan_.steps()[a.step].spec->name;
  const uint64_t token = live_token_[a.step];
  auto it = token ? flights_.find(token) : flights_.end();
  switch (a.type) {
    case SchedAction::kStart:
      launch(a.step, a.attempt);
      break;
    case SchedAction::kCancel:
      if (it != flights_.end()) {
        it->second->cancel_reason = a.reason;
        it->second->executor->cancel(token, *it->second->request);
      }
      emit({RunEvent::kLog, name, StepState::kRunning, a.attempt, "cancelling: " + a.reason});
      break;
    case SchedAction::kAbandon: {
      if (it != flights_.end()) {
        Flight& f = *it->second;
        rec_.finish_attempt(f.execution_id, {StepState::kFailed, a.reason, f.inputs, {}, {}});
        append_step_log(f.request->log_path, LogLevel::kError, a.reason);
        f.executor->abandon(token);
        flights_.erase(it);
        live_token_[a.step] = 0;
      }
      auto s = core_.state(a.step);
      if (s != StepState::kPending) rec_.step_state(name, s, a.reason);
      emit({s == StepState::kPending ? RunEvent::kRetry : RunEvent::kState, name, s, a.attempt,
            a.reason});
      break;
    }
    case SchedAction::kSkip: {
      auto s = core_.state(a.step);
      rec_.step_state(name, s, a.reason);
      scope_.step(name).state = s;
      emit({RunEvent::kState, name, s, 0, a.reason});
      break;
    }
  }
}

Status RunLoop::end_round() {
  if (Status c = rec_.commit_round(); !c.is_ok()) return c;
  for (const auto& [execution_id, ev] : deployments_) rec_.deployment(execution_id, ev);
  deployments_.clear();
  if (rec_.failed()) return rec_.error();
  dispatch();
  return rec_.error();
}

namespace {

bool disk_full(const Status& s) {
  const std::string& m = s.message();
  return m.find("disk is full") != std::string::npos ||
         m.find("No space left") != std::string::npos;
}

}  // namespace

Status RunLoop::stop(const Status& failure) {
  // Decisions that could not be recorded are not acted on: stop what runs and end the run.
  for (auto& [token, f] : flights_) f->executor->cancel(token, *f->request);
  // On a full disk the store's reserve is given up so that the cause can still be written.
  Status why = failure;
  if (disk_full(why)) {
    store_.release_reserve();
    why = Status(why.code(), "disk full at " + why.message() + ": free space under " +
                                 store_.home().string() + ", then `llmops resume " +
                                 std::to_string(run_.id) + "`");
  }
  // The recorder refuses every write after its first error; this last one goes to the store
  // itself, and the error says so when the store refuses it too. On a full disk the attempts it
  // interrupted fail with the cause as well (resume runs them again); otherwise they are left as
  // a killed engine leaves them, for a resume to reattach to or record as interrupted.
  Status last = Status::ok();
  if (disk_full(failure)) {
    auto ended = store_.end_run(run_.id, store::State::kFailed, why.message());
    if (!ended) last = ended.status();
  } else {
    last = store_.set_run_state(run_.id, store::State::kFailed, why.message());
  }
  if (!last.is_ok())
    return Status(why.code(),
                  why.message() + " (nor could the run be marked failed: " + last.message() + ")");
  return why;
}

Result<RunSummary> RunLoop::run() {
  const double t0 = clock_.now();
  summary_.run_id = run_.id;
  live_token_.assign(plan_.steps().size(), 0);
  if (Status s = restore(); !s.is_ok()) return stop(s);
  if (Status s = rec_.run_state(store::State::kRunning); !s.is_ok()) return stop(s);
  for (const auto& [name, ex] : executors_) ex->prepare(opt_.max_parallel);
  std::deque<Completion> arrived;
  while (!core_.finished()) {
    if (opt_.interrupt && opt_.interrupt->load() && !interrupt_seen_) {
      interrupt_seen_ = true;
      core_.cancel_all("interrupted");
    }
    rec_.begin_round();
    for (auto& c : arrived) finish(c);
    arrived.clear();
    const auto actions = core_.poll(clock_.now());
    for (const auto& a : actions) apply(a);
    if (Status s = end_round(); !s.is_ok()) return stop(s);
    if (core_.finished()) break;
    // Steps finished synchronously (cache hits, skips) may have unblocked others: poll again at
    // once. Otherwise wait for a completion, the next timer, or 100 ms to notice an interrupt.
    if (actions.empty() && inbox_->empty()) {
      double until = clock_.now() + 0.1;
      if (auto deadline = core_.next_deadline()) until = std::min(until, *deadline);
      clock_.wait(*inbox_, until, !flights_.empty());
    }
    arrived = inbox_->take();
  }
  summary_.state = interrupt_seen_      ? store::State::kCancelled
                   : core_.any_failed() ? store::State::kFailed
                                        : store::State::kSucceeded;
  for (size_t i = 0; i < plan_.steps().size(); ++i)
    summary_.step_states[plan_.steps()[i].spec->name] = core_.state(int(i));
  const std::string err = summary_.state == store::State::kSucceeded
                              ? ""
                              : std::string("one or more steps ") + to_string(summary_.state);
  if (Status s = rec_.run_state(summary_.state, err); !s.is_ok()) return stop(s);
  summary_.seconds = clock_.now() - t0;
  return summary_;
}

}  // namespace llmops::engine
