#include "engine/feedback.hpp"

#include <chrono>
#include <set>

#include "engine/dag.hpp"
#include "engine/run_scope.hpp"
#include "engine/template.hpp"

namespace llmops::engine {

namespace {

double unix_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

nlohmann::json artifact_to_json(const store::Event& e) {
  const auto& a = e.artifact;
  return {{"role", e.role}, {"digest", a.digest}, {"kind", a.kind},         {"name", a.name},
          {"uri", a.uri},   {"size", a.size},     {"metadata", a.metadata_json}};
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
    if (!ins || !outs || !mets) return Status::internal("cannot read execution " + std::to_string(e.id));
    r.inputs = std::move(ins.value());
    r.outputs = std::move(outs.value());
    r.metrics = std::move(mets.value());
    out[e.step] = std::move(r);  // executions come in id order: the last one wins
  }
  return out;
}

}  // namespace

std::vector<FeedbackRule> parse_feedback(const PipelineSpec& spec, std::vector<Diagnostic>* diags) {
  std::vector<FeedbackRule> rules;
  if (spec.feedback.is_null()) return rules;
  auto error = [&](const std::string& msg) {
    if (diags) diags->push_back({spec.file, spec.feedback_pos, "feedback: " + msg, false});
  };
  const nlohmann::json list =
      spec.feedback.is_array() ? spec.feedback : nlohmann::json::array({spec.feedback});
  for (size_t i = 0; i < list.size(); ++i) {
    const auto& r = list[i];
    const std::string where = "rule " + std::to_string(i + 1);
    if (!r.is_object()) {
      error(where + " must be a map with `on` and `reenter`");
      continue;
    }
    FeedbackRule rule;
    if (!r.contains("on") || !r["on"].is_string()) error(where + ": `on` (a trigger kind such as drift) is required");
    else rule.on = r["on"].get<std::string>();
    if (!r.contains("reenter") || !r["reenter"].is_string()) {
      error(where + ": `reenter` (the step to run again) is required");
    } else {
      rule.reenter = r["reenter"].get<std::string>();
      if (!spec.find_step(rule.reenter))
        error(where + ": reenter names no step of this pipeline: '" + rule.reenter + "'");
    }
    if (r.contains("with")) {
      if (!r["with"].is_object()) error(where + ": `with` must map input names to references");
      else rule.with = r["with"];
      for (const auto& [name, v] : rule.with.items()) {
        if (!v.is_string()) {
          error(where + ": with." + name + " must be a ${{ steps.S.outputs.O }} reference");
          continue;
        }
        auto spans = find_templates(v.get<std::string>());
        if (!spans || spans->size() != 1) {
          error(where + ": with." + name + " must be one ${{ steps.S.outputs.O }} reference");
          continue;
        }
        auto refs = expression_refs(spans->front().expr);
        if (!refs || refs->size() != 1 || refs->front().size() < 4 ||
            refs->front()[0] != "steps" || refs->front()[2] != "outputs" ||
            !spec.find_step(refs->front()[1]))
          error(where + ": with." + name + " must reference an output of a step of this pipeline");
      }
    }
    if (r.contains("max_cycles")) {
      if (!r["max_cycles"].is_number_integer() || r["max_cycles"].get<int>() < 1)
        error(where + ": max_cycles must be a positive integer");
      else
        rule.max_cycles = r["max_cycles"].get<int>();
    }
    if (r.contains("cooldown")) {
      auto d = r["cooldown"].is_string() ? parse_duration(r["cooldown"].get<std::string>())
                                         : std::optional<double>{};
      if (!d) error(where + ": cooldown must be a duration such as 10m");
      else rule.cooldown_s = *d;
    }
    for (const auto& [k, _] : r.items())
      if (k != "on" && k != "reenter" && k != "with" && k != "max_cycles" && k != "cooldown")
        error(where + ": unknown key '" + k + "' (on, reenter, with, max_cycles, cooldown)");
    rules.push_back(std::move(rule));
  }
  return rules;
}

Result<std::optional<Reentry>> plan_reentry(store::Store& st, Runner& runner,
                                            const PipelineSpec& spec, const std::string& spec_text,
                                            const std::vector<FeedbackRule>& rules,
                                            const RunSummary& finished, std::string* note) {
  auto run = st.get_run(finished.run_id);
  if (!run) return run.status();
  for (const auto& t : finished.triggers) {
    const FeedbackRule* rule = nullptr;
    for (const auto& r : rules)
      if (r.on == t.kind) rule = &r;
    if (!rule) {
      if (note) *note = "trigger '" + t.kind + "' raised, but no feedback rule is `on: " + t.kind + "`";
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
    RunOptions opts;
    opts.trigger = "feedback";
    opts.parent_run = finished.run_id;
    opts.cycle = run->cycle + 1;
    opts.trigger_info_json = nlohmann::json{{"kind", t.kind},
                                            {"reason", t.reason},
                                            {"payload", nlohmann::json::parse(t.payload_json, nullptr, false)},
                                            {"step", t.step},
                                            {"reenter", rule->reenter},
                                            {"extra_inputs", {{rule->reenter, extra}}}}
                                 .dump();
    auto id = runner.start(spec, spec_text, opts);
    if (!id) return id.status();
    // Everything but the re-entered step and its downstream is taken from the parent run.
    const Dag dag = Dag::build(spec);
    std::set<std::string> redo{rule->reenter};
    for (int d : dag.descendants(dag.index(rule->reenter))) redo.insert(dag.names()[d]);
    for (const auto& s : spec.steps) {
      if (redo.count(s.name)) continue;
      auto it = steps->find(s.name);
      if (it == steps->end()) continue;  // did not succeed in the parent: it runs again
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
    return std::optional<Reentry>{Reentry{id.value(), t.kind + " raised by " + t.step + ": " + t.reason}};
  }
  return std::optional<Reentry>{};
}

}  // namespace llmops::engine
