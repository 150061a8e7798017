#include "engine/run/feedback_loop.hpp"

#include <chrono>
#include <set>

#include "engine/plan/dag.hpp"
#include "engine/run/run_scope.hpp"
#include "engine/spec/template.hpp"

namespace llmops::engine {

namespace {

double unix_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

nlohmann::json artifact_to_json(const store::Event& e) {
  const auto& a = e.artifact;
  return {{"role", e.role},
          {"digest", a.digest},
          {"kind", a.kind},
          {"name", a.name},
          {"uri", a.uri},
          {"size", a.size},
          {"metadata", a.metadata_json}};
}

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
    if (e.state != "succeeded" && e.state != "cached") continue;
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
    if (r.pipeline == name && r.state == "succeeded") return std::optional<store::RunInfo>(r);
  return std::optional<store::RunInfo>{};
}

}  // namespace

Result<std::optional<Reentry>> plan_reentry(store::Store& st, Runner& runner,
                                            const PipelineSpec& spec, const std::string& spec_text,
                                            const std::vector<FeedbackRule>& rules,
                                            const RunSummary& finished, std::string* note,
                                            const PipelineLoader& load) {
  auto run = st.get_run(finished.run_id);
  if (!run) return run.status();
  for (const auto& t : finished.triggers) {
    const FeedbackRule* rule = nullptr;
    for (const auto& r : rules)
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
    const double since = unix_now() - run->started_at;
    if (since < rule->cooldown_s) {
      if (note)
        *note = "trigger '" + t.kind + "' raised within the cooldown (" +
                std::to_string(int(rule->cooldown_s)) + "s): not re-entering";
      return std::optional<Reentry>{};
    }
    auto steps = finished_steps(st, finished.run_id);
    if (!steps) return steps.status();
    // Extra inputs of the re-entered step, resolved in the triggering run.
    nlohmann::json extra = nlohmann::json::array();
    for (const auto& [name, v] : rule->with.items()) {
      auto spans = find_templates(v.get<std::string>());
      auto refs = expression_refs(spans->front().expr);
      const auto& ref = refs->front();
      auto it = steps->find(ref[1]);
      const store::Event* found = nullptr;
      if (it != steps->end())
        for (const auto& ev : it->second.outputs)
          if (ev.role == ref[3]) found = &ev;
      if (!found)
        return Status::not_found("feedback: run " + std::to_string(finished.run_id) + " has no " +
                                 join_ref(ref) + " to pass as " + name);
      store::Event e = *found;
      e.role = name;
      extra.push_back(artifact_to_json(e));
    }

    // The pipeline the new run belongs to, and the run its upstream steps come from.
    Reentry out;
    const PipelineSpec* target = &spec;
    const std::string* target_text = &spec_text;
    std::map<std::string, StepRecord> upstream;
    std::optional<int64_t> upstream_run = finished.run_id;
    if (!rule->pipeline.empty()) {
      if (!load) return Status::internal("feedback: no loader for pipeline " + rule->pipeline);
      auto other = load(rule->pipeline_path);
      if (!other) return Status(other.status().code(), "feedback: " + other.status().message());
      out.other = other.value();
      target = &out.other->spec;
      target_text = &out.other->text;
      if (!target->find_step(rule->reenter))
        return Status::invalid("feedback: pipeline " + target->name + " has no step " +
                               rule->reenter);
      auto last = latest_success(st, target->name);
      if (!last) return last.status();
      upstream_run.reset();
      if (last.value()) {
        upstream_run = last.value()->id;
        // The same parameters as the run the upstream steps come from.
        auto params = nlohmann::json::parse(last.value()->params_json, nullptr, false);
        if (params.is_object())
          for (const auto& [k, v] : params.items())
            if (out.other->spec.param_values.contains(k)) out.other->spec.param_values[k] = v;
        auto recs = finished_steps(st, *upstream_run);
        if (!recs) return recs.status();
        upstream = std::move(recs.value());
      }
    } else {
      upstream = steps.value();
    }

    RunOptions opts;
    opts.trigger = "feedback";
    opts.parent_run = finished.run_id;
    opts.cycle = run->cycle + 1;
    nlohmann::json info = {{"kind", t.kind},
                           {"reason", t.reason},
                           {"payload", nlohmann::json::parse(t.payload_json, nullptr, false)},
                           {"step", t.step},
                           {"reenter", rule->reenter},
                           {"extra_inputs", {{rule->reenter, extra}}}};
    if (!rule->pipeline.empty()) {
      info["pipeline"] = target->name;
      info["triggered_by"] = spec.name;
      info["upstream_run"] = upstream_run ? nlohmann::json(*upstream_run) : nlohmann::json();
    }
    opts.trigger_info_json = info.dump();
    auto id = runner.start(*target, *target_text, opts);
    if (!id) return id.status();
    // Everything but the re-entered step and its downstream is taken from the upstream run.
    const Dag dag = Dag::build(*target);
    std::set<std::string> redo{rule->reenter};
    for (int d : dag.descendants(dag.index(rule->reenter))) redo.insert(dag.names()[d]);
    for (const auto& s : target->steps) {
      if (redo.count(s.name)) continue;
      auto it = upstream.find(s.name);
      if (it == upstream.end()) continue;  // did not succeed there: it runs again
      const auto& rec = it->second;
      store::ExecutionResult er;
      er.state = "cached";
      er.inputs = rec.inputs;
      er.outputs = rec.outputs;
      er.metrics = rec.metrics;
      auto c = st.record_cached(id.value(), s.name, rec.exec.plugin_id, rec.exec.plugin_version,
                                rec.exec.plugin_digest, "", er);
      if (!c) return c.status();
    }
    out.run_id = id.value();
    out.why = t.kind + " raised by " + t.step + ": " + t.reason;
    if (out.other)
      out.why += "; re-entering pipeline " + target->name + " at " + rule->reenter +
                 (upstream_run ? " (upstream steps from run " + std::to_string(*upstream_run) + ")"
                               : " (no successful run yet: every step runs)");
    return std::optional<Reentry>{std::move(out)};
  }
  return std::optional<Reentry>{};
}

}  // namespace llmops::engine
