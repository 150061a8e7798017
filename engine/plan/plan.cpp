#include "engine/plan/plan.hpp"

#include "engine/spec/slurm_spec.hpp"

namespace llmops::engine {

Result<Plan> Plan::build(std::shared_ptr<const LoadedPipeline> pipeline,
                         const PluginCatalog& catalog) {
  if (!pipeline || !pipeline->spec) return Status::invalid("no pipeline to plan");
  const PipelineSpec& spec = *pipeline->spec;
  Plan plan;
  plan.pipeline_ = pipeline;
  plan.dag_ = Dag::build(spec);
  if (auto cycle = plan.dag_.find_cycle()) {
    std::string names;
    for (const auto& n : *cycle) names += (names.empty() ? "" : " -> ") + n;
    return Status::invalid("the pipeline has a cycle: " + names);
  }
  const auto order = plan.dag_.topo_order();
  for (size_t i = 0; i < order.size(); ++i) plan.index_[order[i]] = int(i);
  plan.steps_.reserve(order.size());
  for (const auto& name : order) {
    const StepSpec* s = spec.find_step(name);
    const PluginInfo* p = catalog.find(s->uses, s->version_constraint);
    if (!p) return Status::invalid("step " + name + ": plugin " + s->uses + " is not installed");
    if (!p->broken.empty())
      return Status::invalid("step " + name + ": plugin " + s->uses +
                             " cannot be loaded: " + p->broken);
    PlannedStep ps;
    ps.spec = s;
    ps.plugin = p;
    ps.executor = !s->executor.empty()              ? s->executor
                  : !spec.defaults.executor.empty() ? spec.defaults.executor
                                                    : p->executor;
    if (ps.executor.empty()) ps.executor = "inprocess";
    ps.slurm = slurm_merge(spec.defaults.slurm, s->slurm);
    for (const auto& n : s->needs)
      if (auto it = plan.index_.find(n); it != plan.index_.end()) ps.needs.push_back(it->second);
    ps.retries = s->retries.value_or(spec.defaults.retries);
    ps.timeout_s = s->timeout_s.value_or(spec.defaults.timeout_s.value_or(p->default_timeout_s));
    ps.resources = s->resources;
    if (ps.resources.cpus <= 0) ps.resources.cpus = p->default_cpus;
    if (ps.resources.memory <= 0) ps.resources.memory = p->default_memory;
    if (ps.resources.gpus <= 0) ps.resources.gpus = p->default_gpus;
    plan.steps_.push_back(std::move(ps));
  }
  return plan;
}

std::optional<int> Plan::index(const std::string& step) const {
  auto it = index_.find(step);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

std::vector<SchedStep> Plan::sched_steps() const {
  std::vector<SchedStep> out;
  out.reserve(steps_.size());
  for (const auto& ps : steps_) {
    SchedStep ss;
    ss.name = ps.spec->name;
    ss.needs = ps.needs;
    ss.retries = ps.retries;
    ss.timeout_s = ps.timeout_s;
    ss.resources = ps.resources;
    out.push_back(std::move(ss));
  }
  return out;
}

std::set<std::string> Plan::rerun_from(const std::string& step) const {
  std::set<std::string> out;
  const int v = dag_.index(step);
  if (v < 0) return out;
  out.insert(step);
  for (int d : dag_.descendants(v)) out.insert(dag_.names()[d]);
  return out;
}

}  // namespace llmops::engine
