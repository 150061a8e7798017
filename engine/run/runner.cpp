#include "engine/run/runner.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "base/hash.hpp"
#include "engine/exec/step_context.hpp"
#include "engine/plan/dag.hpp"
#include "engine/run/run_scope.hpp"
#include "engine/run/step_pool.hpp"
#include "engine/run/step_prep.hpp"
#include "engine/run/step_scheduler.hpp"
#include "engine/spec/loader.hpp"

namespace fs = std::filesystem;

namespace llmops::engine {

fs::path run_dir(const fs::path& home, int64_t run_id) {
  return home / "runs" / std::to_string(run_id);
}

namespace {

double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

struct Completion {
  int step = -1;
  uint64_t token = 0;
  StepResult result;
  std::vector<store::Event> sealed;  // the outputs, sealed on the worker thread when it succeeded
};

// One attempt in flight.
struct Flight {
  uint64_t token = 0;
  int64_t execution_id = 0;
  std::shared_ptr<StepRequest> request;
  std::vector<store::Event> inputs;
  std::string cancel_reason;  // why the engine asked the step to stop
};

// A `deployment` artifact (written by a deployer) is also recorded in the deployments table, so
// the store knows what serves where and keeps an append-only history of every change.
void record_deployment(store::Store& st, int64_t run_id, int64_t execution_id,
                       const store::Event& ev) {
  auto m = nlohmann::json::parse(ev.artifact.metadata_json, nullptr, false);
  if (!m.is_object() || !m.contains("name")) return;
  store::DeploymentRecord d;
  d.name = m.value("name", "");
  d.action = m.value("action", "start");
  d.artifact_digest = m.value("model_digest", "");
  d.state = "running";
  d.endpoint = m.value("endpoint", "");
  d.info_json = m.dump();
  d.run_id = run_id;
  d.execution_id = execution_id;
  if (!st.record_deployment(d)) {
    d.artifact_digest.clear();  // a model the store does not know: keep the record anyway
    (void)st.record_deployment(d);
  }
}

}  // namespace

struct Runner::Impl {
  store::Store& store;
  std::shared_ptr<PluginHost> host;
  std::map<std::string, std::shared_ptr<Executor>> executors;

  Impl(store::Store& s, std::shared_ptr<PluginHost> h) : store(s), host(std::move(h)) {
    executors["inprocess"] = std::make_shared<InProcessExecutor>(host);
  }
};

Runner::Runner(store::Store& store, std::shared_ptr<PluginHost> host)
    : impl_(std::make_unique<Impl>(store, std::move(host))) {}
Runner::~Runner() = default;

void Runner::add_executor(const std::string& name, std::shared_ptr<Executor> executor) {
  impl_->executors[name] = std::move(executor);
}

Result<int64_t> Runner::start(const PipelineSpec& spec, const std::string& spec_text,
                              const RunOptions& options) {
  store::NewRun nr;
  nr.pipeline = spec.name;
  nr.pipeline_file = spec.file;
  nr.spec_digest = "sha256:" + base::sha256_hex(spec_text);
  nr.spec_text = spec_text;
  nr.params_json = spec.param_values.dump();
  nr.trigger = options.trigger;
  nr.parent_run = options.parent_run;
  nr.cycle = options.cycle;
  nr.trigger_info_json = options.trigger_info_json;
  std::vector<std::string> names;
  for (const auto& s : spec.steps) names.push_back(s.name);
  return impl_->store.create_run(nr, names);
}

Result<RunSummary> Runner::run(const PipelineSpec& spec, const std::string& spec_text,
                               const RunOptions& options) {
  auto id = start(spec, spec_text, options);
  if (!id) return id.status();
  return execute(id.value(), options, &spec);
}

Result<RunSummary> Runner::execute(int64_t run_id, const RunOptions& options) {
  return execute(run_id, options, nullptr);
}

Result<RunSummary> Runner::execute(int64_t run_id, const RunOptions& options,
                                   const PipelineSpec* loaded_spec) {
  auto& st = impl_->store;
  const double t0 = now_s();
  auto run = st.get_run(run_id);
  if (!run) return run.status();
  std::optional<PipelineSpec> owned;
  if (!loaded_spec) {  // resume: the run's recorded text is the pipeline
    auto loaded =
        load_pipeline_text(run->spec_text, run->pipeline_file, {}, /*require_params=*/false);
    if (!loaded.ok() || !loaded.spec)
      return Status::invalid("run " + std::to_string(run_id) +
                             ": its recorded pipeline no longer loads");
    owned = std::move(*loaded.spec);
    loaded_spec = &*owned;
  }
  const PipelineSpec& spec = *loaded_spec;
  nlohmann::json param_values = spec.param_values;
  auto params = nlohmann::json::parse(run->params_json, nullptr, false);
  if (params.is_object()) param_values = params;

  Dag dag = Dag::build(spec);
  if (auto cycle = dag.find_cycle()) return Status::invalid("the pipeline has a cycle");
  const auto order = dag.topo_order();
  std::map<std::string, int> index;
  for (size_t i = 0; i < order.size(); ++i) index[order[i]] = int(i);

  // Plan: one SchedStep per step, in topological order.
  std::vector<const StepSpec*> specs;
  std::vector<const PluginInfo*> plugins;
  std::vector<SchedStep> sched;
  for (const auto& name : order) {
    const StepSpec* s = spec.find_step(name);
    const PluginInfo* p = impl_->host->find(s->uses, s->version_constraint);
    if (!p) return Status::invalid("step " + name + ": plugin " + s->uses + " is not installed");
    SchedStep ss;
    ss.name = name;
    for (const auto& n : s->needs)
      if (index.count(n)) ss.needs.push_back(index[n]);
    ss.retries = s->retries.value_or(spec.defaults.retries);
    ss.timeout_s = s->timeout_s.value_or(spec.defaults.timeout_s.value_or(0));
    ss.resources = s->resources;
    specs.push_back(s);
    plugins.push_back(p);
    sched.push_back(std::move(ss));
  }

  SchedOptions so;
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  so.max_parallel = options.max_parallel > 0 ? options.max_parallel : cores;
  so.fail_fast = options.fail_fast;
  so.grace_s = options.grace_s;
  so.cpu_capacity = cores;
  so.memory_capacity = int64_t(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGE_SIZE);
  so.seed = uint64_t(run_id);
  SchedulerCore core(std::move(sched), so);

  RunScope scope(param_values, run_id, run->cycle);
  // A feedback re-entry passes artifacts of the triggering run to the re-entered step.
  std::map<std::string, std::vector<store::Event>> extra_inputs;
  {
    auto info = nlohmann::json::parse(run->trigger_info_json, nullptr, false);
    if (info.is_object() && info.contains("extra_inputs") && info["extra_inputs"].is_object())
      for (const auto& [step, list] : info["extra_inputs"].items())
        for (const auto& a : list) {
          store::Event e;
          e.role = a.value("role", "");
          e.artifact.digest = a.value("digest", "");
          e.artifact.kind = a.value("kind", "");
          e.artifact.name = a.value("name", "");
          e.artifact.uri = a.value("uri", "");
          e.artifact.size = a.value("size", int64_t(0));
          e.artifact.metadata_json = a.value("metadata", "{}");
          extra_inputs[step].push_back(std::move(e));
        }
  }
  auto interrupted = st.fail_interrupted(run_id);
  if (!interrupted) return interrupted.status();
  auto prior = st.list_steps(run_id);
  if (!prior) return prior.status();
  auto execs = st.list_executions(run_id);
  if (!execs) return execs.status();
  for (const auto& ps : prior.value()) {
    auto it = index.find(ps.step);
    if (it == index.end()) continue;
    if (ps.state != "succeeded" && ps.state != "cached") {
      core.set_attempts(it->second, ps.attempts);  // a resumed step's attempts go on counting
      continue;
    }
    // Resume: reuse what the finished step recorded (its latest good execution).
    const store::ExecutionInfo* last = nullptr;
    for (const auto& e : execs.value())
      if (e.step == ps.step && (e.state == "succeeded" || e.state == "cached")) last = &e;
    if (!last) continue;
    auto outs = st.execution_events(last->id, true);
    auto mets = st.execution_metrics(last->id);
    if (!outs || !mets) continue;
    auto& view = scope.step(ps.step);
    view.state = ps.state;
    for (const auto& ev : outs.value()) view.outputs[ev.role] = ev.artifact;
    for (const auto& m : mets.value()) view.metrics[m.name] = m.value;
    core.preset(it->second, ps.state == "cached" ? StepState::kCached : StepState::kSucceeded);
  }

  if (auto s = st.set_run_state(run_id, "running"); !s) return s;
  auto emit = [&](RunEvent ev) {
    if (options.on_event) options.on_event(ev);
  };

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Completion> done;
  std::atomic<uint64_t> arrivals{0};  // completions pushed to `done`, ever
  uint64_t taken = 0;                 // of those, how many the scheduler has taken
  constexpr double kSpinS = 50e-6;
  std::map<int, Flight> flights;
  uint64_t next_token = 1;
  int abandoned = 0;
  auto pool = std::make_unique<StepPool>(so.max_parallel);
  const fs::path rdir = run_dir(st.home(), run_id);
  RunSummary summary;
  summary.run_id = run_id;
  StepPrep prep(st, *impl_->host, scope, options.no_cache);
  // Steps started in this round, dispatched once its batch is committed ("the store first").
  std::vector<std::function<void()>> ready;
  // Deployments seen in a round, recorded once the round's batch is committed.
  std::vector<std::pair<int64_t, store::Event>> deployments;

  auto launch = [&](int i, int attempt) {
    const StepSpec& s = *specs[i];
    const PluginInfo& p = *plugins[i];
    auto req = std::make_shared<StepRequest>();
    req->run_id = run_id;
    req->step = s.name;
    req->attempt = attempt;
    req->plugin = p;
    req->work_dir = rdir / "work" / s.name / std::to_string(attempt);
    req->log_path = rdir / (s.name + ".log");
    req->memory_limit = s.resources.memory;
    req->on_progress = [&emit, name = s.name](double d, double t, const std::string& n) {
      emit({RunEvent::kProgress, name, "running", 0, n, d, t});
    };
    if (!s.when.empty()) {
      auto w = evaluate_condition(s.when, scope);
      if (!w) {
        const std::string why = "when: " + w.status().message();
        core.on_finished(i, false, false, now_s());
        (void)st.set_step_state(run_id, s.name, to_string(core.state(i)), why);
        emit({RunEvent::kState, s.name, to_string(core.state(i)), attempt, why});
        return;
      }
      if (!w.value()) {
        core.mark_skipped(i);
        const std::string why = "when: " + s.when + " is false";
        (void)st.set_step_state(run_id, s.name, "skipped", why);
        scope.step(s.name).state = "skipped";
        emit({RunEvent::kState, s.name, "skipped", attempt, why});
        return;
      }
    }
    auto ex_it = extra_inputs.find(s.name);
    auto prepared =
        prep.prepare(s, p, *req, ex_it == extra_inputs.end() ? nullptr : &ex_it->second);
    const double now = now_s();
    if (!prepared) {
      // Bad template values or inputs: the attempt fails before it starts.
      auto ex = st.begin_execution(run_id, s.name, attempt, p.id, p.version, impl_->host->digest(p),
                                   "", req->log_path.string());
      if (ex)
        (void)st.finish_execution(ex.value(), {"failed", prepared.status().message(), {}, {}, {}});
      append_step_log(req->log_path, LogLevel::kError, prepared.status().message());
      auto fr = core.on_finished(i, false, false, now);
      emit({RunEvent::kState, s.name, to_string(fr.state), attempt, prepared.status().message()});
      return;
    }
    if (prepared->cached) {
      (void)st.set_step_state(run_id, s.name, "cached");
      auto& view = scope.step(s.name);
      view.state = "cached";
      core.on_finished(i, true, false, now);
      core.preset(i, StepState::kCached);
      emit({RunEvent::kState, s.name, "cached", attempt, ""});
      return;
    }
    auto ex = st.begin_execution(run_id, s.name, attempt, p.id, p.version, prepared->plugin_digest,
                                 prepared->cache_key, req->log_path.string());
    if (!ex) {
      core.on_finished(i, false, false, now);
      emit({RunEvent::kState, s.name, "failed", attempt, ex.status().message()});
      return;
    }
    emit({RunEvent::kState, s.name, "running", attempt, ""});
    Flight f;
    f.token = next_token++;
    f.execution_id = ex.value();
    f.request = req;
    f.inputs = std::move(prepared->input_events);
    flights[i] = f;
    const std::string exec_name = !s.executor.empty()               ? s.executor
                                  : !spec.defaults.executor.empty() ? spec.defaults.executor
                                                                    : p.executor;
    auto it = impl_->executors.find(exec_name);
    std::shared_ptr<Executor> executor =
        it != impl_->executors.end() ? it->second : impl_->executors["inprocess"];
    // The worker also seals the outputs (hashing can be long), so the scheduler thread only
    // records the result.
    auto job = [executor, req, i, token = f.token, &mu, &cv, &done, &arrivals, &st] {
      Completion c{i, token, executor->execute(*req), {}};
      if (c.result.status.is_ok()) {
        auto sealed = seal_outputs(st.blobs(), c.result.outputs);
        if (!sealed)
          c.result.status = sealed.status();
        else
          c.sealed = std::move(sealed.value());
      }
      if (c.result.status.is_ok()) {
        std::error_code ec;
        fs::remove_all(req->work_dir, ec);
      }
      std::lock_guard lock(mu);
      done.push_back(std::move(c));
      arrivals.fetch_add(1, std::memory_order_release);
      cv.notify_one();
    };
    // Dispatched once the round's writes (this step's start among them) are committed.
    ready.push_back(std::move(job));
  };

  auto finish = [&](Completion& c) {
    auto fit = flights.find(c.step);
    if (fit == flights.end() || fit->second.token != c.token) return;  // abandoned earlier
    Flight f = std::move(fit->second);
    flights.erase(fit);
    const StepSpec& s = *specs[c.step];
    const int attempt = f.request->attempt;
    auto& r = c.result;
    store::ExecutionResult er;
    er.inputs = f.inputs;
    for (const auto& m : r.metrics) er.metrics.push_back({m.name, m.value, m.step, m.time});
    Status status = r.status;
    if (status.is_ok()) er.outputs = std::move(c.sealed);
    const bool was_cancel = f.request->cancel->load();
    // Only a run-wide stop (Ctrl-C, --fail-fast) makes a step `cancelled`; a timeout is a failure.
    const bool timed_out = was_cancel && f.cancel_reason.rfind("timed out", 0) == 0;
    if (!status.is_ok() && timed_out)
      status =
          Status(StatusCode::kDeadlineExceeded, f.cancel_reason + " (" + status.message() + ")");
    er.state = status.is_ok() ? "succeeded" : (was_cancel && !timed_out ? "cancelled" : "failed");
    er.error = status.message();
    if (auto w = st.finish_execution(f.execution_id, er); !w) {
      status = w;
      er.state = "failed";
    }
    if (status.is_ok())
      for (const auto& ev : er.outputs)
        if (ev.artifact.kind == "deployment") deployments.push_back({f.execution_id, ev});
    if (!status.is_ok())
      append_step_log(
          f.request->log_path, LogLevel::kError,
          "attempt " + std::to_string(attempt) + " " + er.state + ": " + status.message());
    auto fr = core.on_finished(c.step, status.is_ok(), was_cancel && !timed_out, now_s());
    if (status.is_ok()) {
      auto& view = scope.step(s.name);
      view.state = "succeeded";
      for (const auto& ev : er.outputs) view.outputs[ev.role] = ev.artifact;
      for (const auto& m : er.metrics) view.metrics[m.name] = m.value;
      std::string note;
      for (auto& t : r.triggers) {
        t.step = s.name;
        summary.triggers.push_back(t);
        note += (note.empty() ? "raised " : "; raised ") + t.kind + ": " + t.reason;
      }
      emit({RunEvent::kState, s.name, "succeeded", attempt, note});
    } else if (fr.retry_at) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "retry in %.1fs", fr.retry_delay);
      (void)st.set_step_state(run_id, s.name, "pending",
                              std::string(buf) + " after: " + status.message());
      emit({RunEvent::kState, s.name, "retrying", attempt,
            std::string(buf) + ": " + status.message()});
    } else {
      scope.step(s.name).state = to_string(fr.state);
      (void)st.set_step_state(run_id, s.name, to_string(fr.state), status.message());
      emit({RunEvent::kState, s.name, to_string(fr.state), attempt, status.message()});
    }
  };

  // One write transaction per scheduling round: the completions that arrived and the starts
  // they unblock commit together, before the started steps are dispatched, so everything the
  // engine decided is in the store before it acts on it. Without a batch (another batch open or
  // a busy store) each call commits on its own.
  std::optional<store::Store::Batch> round;
  auto commit_round = [&]() -> Status {
    if (round) {
      Status c = round->commit();
      round.reset();
      if (!c) return c;
    }
    for (const auto& [execution_id, ev] : deployments)
      record_deployment(st, run_id, execution_id, ev);
    deployments.clear();
    for (auto& job : ready) {
      // A pool thread may be stuck in an abandoned in-process step: do not queue behind it.
      if (abandoned > 0)
        std::thread(job).detach();
      else
        pool->post(job);
    }
    ready.clear();
    return Status::ok();
  };

  bool interrupt_seen = false;
  std::deque<Completion> arrived;
  while (!core.finished()) {
    if (options.interrupt && options.interrupt->load() && !interrupt_seen) {
      interrupt_seen = true;
      core.cancel_all("interrupted");
    }
    if (auto b = st.batch()) round.emplace(std::move(b.value()));
    for (auto& c : arrived) finish(c);
    arrived.clear();
    const auto actions = core.poll(now_s());
    for (const auto& a : actions) {
      const std::string& name = specs[a.step]->name;
      switch (a.type) {
        case SchedAction::kStart:
          launch(a.step, a.attempt);
          break;
        case SchedAction::kCancel:
          if (auto it = flights.find(a.step); it != flights.end()) {
            it->second.cancel_reason = a.reason;
            it->second.request->cancel->store(true);
          }
          emit({RunEvent::kLog, name, "running", a.attempt, "cancelling: " + a.reason});
          break;
        case SchedAction::kAbandon:
          if (auto it = flights.find(a.step); it != flights.end()) {
            ++abandoned;
            (void)st.finish_execution(it->second.execution_id,
                                      {"failed", a.reason, it->second.inputs, {}, {}});
            append_step_log(it->second.request->log_path, LogLevel::kError, a.reason);
            flights.erase(it);
          }
          {
            auto s = core.state(a.step);
            if (s != StepState::kPending)
              (void)st.set_step_state(run_id, name, to_string(s), a.reason);
            emit({RunEvent::kState, name, s == StepState::kPending ? "retrying" : to_string(s),
                  a.attempt, a.reason});
          }
          break;
        case SchedAction::kSkip: {
          auto s = core.state(a.step);
          (void)st.set_step_state(run_id, name, to_string(s), a.reason);
          scope.step(name).state = to_string(s);
          emit({RunEvent::kState, name, to_string(s), 0, a.reason});
          break;
        }
      }
    }
    if (Status c = commit_round(); !c) return c;
    if (core.finished()) break;
    if (actions.empty() && !flights.empty()) {
      // Short steps finish within microseconds: look for a completion briefly before sleeping,
      // which saves a sleep and a wake-up per step (a few tens of microseconds).
      const double until = now_s() + kSpinS;
      while (arrivals.load(std::memory_order_acquire) == taken && now_s() < until)
        std::this_thread::yield();
    }
    std::unique_lock lock(mu);
    // Steps finished synchronously (cache hits, skips) may have unblocked others: poll again at
    // once. Otherwise wait for a completion, the next timer, or 100 ms to notice an interrupt.
    if (actions.empty() && done.empty()) {
      auto deadline = core.next_deadline();
      double wait = deadline ? std::max(0.0, *deadline - now_s()) : 0.1;
      wait = std::min(wait, 0.1);
      cv.wait_for(lock, std::chrono::duration<double>(wait), [&] { return !done.empty(); });
    }
    arrived.swap(done);
    taken += arrived.size();
  }
  if (Status c = commit_round(); !c) return c;

  if (abandoned > 0)
    StepPool::release(std::move(pool));  // a thread is stuck in a plugin that ignored cancellation
  else
    pool.reset();  // joins

  summary.state = interrupt_seen ? "cancelled" : core.any_failed() ? "failed" : "succeeded";
  for (size_t i = 0; i < specs.size(); ++i)
    summary.step_states[specs[i]->name] = to_string(core.state(int(i)));
  const std::string err = summary.state == "succeeded" ? "" : "one or more steps " + summary.state;
  if (auto s = st.set_run_state(run_id, summary.state, err); !s) return s;
  summary.seconds = now_s() - t0;
  return summary;
}

}  // namespace llmops::engine
