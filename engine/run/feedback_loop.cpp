#include "engine/run/feedback_loop.hpp"

#include <set>

#include "base/time.hpp"
#include "engine/spec/template.hpp"

namespace llmops::engine {

namespace {

// The latest good execution of every step of a run, with its events and metrics.
struct StepRecord {
  store::ExecutionInfo exec;
  std::vector<store::Event> inputs, outputs;
  std::vector<store::Metric> metrics;
};

Result<std::map<std::string, StepRecord>> finished_steps(store::Store& st, int64_t run_id) {
  auto execs = st.list_executions(run_id);
  if (!execs) return execs.status();
  std::map<std::string, StepRecord> out;
  for (const auto& e : execs.value()) {
    if (!is_success(e.state)) continue;
    StepRecord r;
    r.exec = e;
    auto ins = st.execution_events(e.id, false);
    auto outs = st.execution_events(e.id, true);
    auto mets = st.execution_metrics(e.id);
    if (!ins || !outs || !mets)
      return Status::internal("cannot read execution " + std::to_string(e.id));
    r.inputs = std::move(ins.value());
    r.outputs = std::move(outs.value());
    r.metrics = std::move(mets.value());
    out[e.step] = std::move(r);  // executions come in id order: the last one wins
  }
  return out;
}

// The latest successful run of pipeline `name` among the most recent runs (where a re-entry into
// another pipeline takes the steps upstream of the re-entered one from).
Result<std::optional<store::RunInfo>> latest_success(store::Store& st, const std::string& name) {
  constexpr int kLookBack = 1000;
  auto runs = st.list_runs(kLookBack);  // newest first
  if (!runs) return runs.status();
  for (auto& r : runs.value())
    if (r.pipeline == name && r.state == store::State::kSucceeded)
      return std::optional<store::RunInfo>(r);
  return std::optional<store::RunInfo>{};
}

// The outputs a rule's `with:` names, resolved in the triggering run, renamed to the inputs.
Result<std::vector<store::Event>> extra_inputs(const FeedbackRule& rule, int64_t run_id,
                                               const std::map<std::string, StepRecord>& steps) {
  std::vector<store::Event> out;
  for (const auto& [name, v] : rule.with.items()) {
    auto spans = find_templates(v.get<std::string>());
    auto refs = expression_refs(spans->front().expr);
    const auto& ref = refs->front();
    auto it = steps.find(ref[1]);
    const store::Event* found = nullptr;
    if (it != steps.end())
      for (const auto& ev : it->second.outputs)
        if (ev.role == ref[3]) found = &ev;
    if (!found)
      return Status::not_found("feedback: run " + std::to_string(run_id) + " has no " +
                               join_ref(ref) + " to pass as " + name);
    store::Event e = *found;
    e.role = name;
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

Result<std::optional<Reentry>> FeedbackLoop::plan_reentry(std::shared_ptr<const Plan> plan,
                                                          const RunSummary& finished,
                                                          std::string* note) {
  const LoadedPipeline& pipeline = plan->pipeline();
  auto run = store_.get_run(finished.run_id);
  if (!run) return run.status();
  for (const auto& t : finished.triggers) {
    const FeedbackRule* rule = nullptr;
    for (const auto& r : pipeline.feedback)
      if (r.on == t.kind) rule = &r;
    if (!rule) {
      if (note)
        *note = "trigger '" + t.kind + "' raised, but no feedback rule is `on: " + t.kind + "`";
      continue;
    }
    if (run->cycle + 1 > rule->max_cycles) {
      if (note)
        *note = "trigger '" + t.kind + "' raised, but max_cycles (" +
                std::to_string(rule->max_cycles) + ") is reached: the loop stops here";
      return std::optional<Reentry>{};
    }
    if (base::unix_now() - run->started_at < rule->cooldown_s) {
      if (note)
        *note = "trigger '" + t.kind + "' raised within the cooldown (" +
                std::to_string(int(rule->cooldown_s)) + "s): not re-entering";
      return std::optional<Reentry>{};
    }
    auto steps = finished_steps(store_, finished.run_id);
    if (!steps) return steps.status();
    auto extra = extra_inputs(*rule, finished.run_id, steps.value());
    if (!extra) return extra.status();

    // The pipeline the new run belongs to, and the run its upstream steps come from.
    Reentry out;
    out.plan = plan;
    RunOrigin origin;
    origin.trigger = "feedback";
    origin.parent_run = finished.run_id;
    origin.cycle = run->cycle + 1;
    origin.info.kind = t.kind;
    origin.info.reason = t.reason;
    origin.info.payload = nlohmann::json::parse(t.payload_json, nullptr, false);
    origin.info.step = t.step;
    origin.info.reenter = rule->reenter;
    origin.info.extra_inputs[rule->reenter] = std::move(extra.value());
    std::map<std::string, StepRecord> upstream = steps.value();
    std::optional<int64_t> upstream_run = finished.run_id;
    if (!rule->pipeline.empty()) {
      if (!load_) return Status::internal("feedback: no loader for pipeline " + rule->pipeline);
      auto other = load_(rule->pipeline_path);
      if (!other) return Status(other.status().code(), "feedback: " + other.status().message());
      auto other_plan = runner_.plan(other.value());
      if (!other_plan)
        return Status(other_plan.status().code(), "feedback: " + other_plan.status().message());
      out.plan = std::make_shared<const Plan>(std::move(other_plan.value()));
      out.other_pipeline = true;
      const PipelineSpec& target = out.plan->spec();
      if (!target.find_step(rule->reenter))
        return Status::invalid("feedback: pipeline " + target.name + " has no step " +
                               rule->reenter);
      auto last = latest_success(store_, target.name);
      if (!last) return last.status();
      upstream.clear();
      upstream_run.reset();
      if (last.value()) {
        upstream_run = last.value()->id;
        // The same parameters as the run the upstream steps come from.
        nlohmann::json params = target.param_values;
        auto recorded = nlohmann::json::parse(last.value()->params_json, nullptr, false);
        if (recorded.is_object())
          for (const auto& [k, v] : recorded.items())
            if (params.contains(k)) params[k] = v;
        origin.params = params;
        auto recs = finished_steps(store_, *upstream_run);
        if (!recs) return recs.status();
        upstream = std::move(recs.value());
      }
      origin.info.pipeline = target.name;
      origin.info.triggered_by = pipeline.spec->name;
      origin.info.upstream_run = upstream_run;
    }
    const PipelineSpec& target = out.plan->spec();
    auto id = runner_.start(out.plan->pipeline(), origin);
    if (!id) return id.status();
    // Everything but the re-entered step and its downstream is taken from the upstream run.
    const std::set<std::string> redo = out.plan->rerun_from(rule->reenter);
    for (const auto& s : target.steps) {
      if (redo.count(s.name)) continue;
      auto it = upstream.find(s.name);
      if (it == upstream.end()) continue;  // did not succeed there: it runs again
      const auto& rec = it->second;
      store::ExecutionResult er;
      er.state = store::State::kCached;
      er.inputs = rec.inputs;
      er.outputs = rec.outputs;
      er.metrics = rec.metrics;
      auto c = store_.record_cached(id.value(), s.name, rec.exec.plugin_id, rec.exec.plugin_version,
                                    rec.exec.plugin_digest, "", er);
      if (!c) return c.status();
    }
    out.run_id = id.value();
    out.why = t.kind + " raised by " + t.step + ": " + t.reason;
    if (out.other_pipeline)
      out.why += "; re-entering pipeline " + target.name + " at " + rule->reenter +
                 (upstream_run ? " (upstream steps from run " + std::to_string(*upstream_run) + ")"
                               : " (no successful run yet: every step runs)");
    return std::optional<Reentry>{std::move(out)};
  }
  return std::optional<Reentry>{};
}

Result<std::vector<ChainLink>> FeedbackLoop::run(std::shared_ptr<const Plan> plan,
                                                 int64_t first_run, const RunOptions& options,
                                                 const FeedbackObserver& observer) {
  std::vector<ChainLink> chain;
  int64_t run_id = first_run;
  std::string why;
  for (;;) {
    if (observer.run_started) observer.run_started(run_id);
    auto summary = runner_.execute(run_id, options, plan.get());
    if (!summary) return summary.status();
    if (observer.run_finished) observer.run_finished(summary.value());
    chain.push_back({run_id, summary->state, plan->pipeline_ptr(), why});
    if (summary->state != store::State::kSucceeded || plan->pipeline().feedback.empty()) break;
    std::string note;
    auto next = plan_reentry(plan, summary.value(), &note);
    if (!next) return next.status();
    if (!next.value()) {
      if (observer.stopped) {
        if (!note.empty())
          observer.stopped(note);
        else if (chain.size() > 1)
          observer.stopped("no trigger raised: the loop is done");
      }
      break;
    }
    if (observer.reentering) observer.reentering(*next.value());
    run_id = next.value()->run_id;
    why = next.value()->why;
    plan = next.value()->plan;
  }
  return chain;
}

}  // namespace llmops::engine
