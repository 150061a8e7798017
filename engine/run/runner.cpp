#include "engine/run/runner.hpp"

#include <unistd.h>

#include <map>
#include <thread>

#include "engine/exec/inprocess_executor.hpp"
#include "engine/run/run_lease.hpp"

namespace llmops::engine {

Runner::Runner(store::Store& store, std::shared_ptr<PluginHost> host)
    : store_(store), host_(std::move(host)) {
  executors_["inprocess"] = std::make_shared<InProcessExecutor>(host_);
}

Runner::~Runner() = default;

void Runner::add_executor(const std::string& name, std::shared_ptr<Executor> executor) {
  executors_[name] = std::move(executor);
}

Status Runner::preflight(const Plan& plan) const {
  std::map<std::string, std::string> used;  // executor -> first step that uses it
  for (const auto& ps : plan.steps()) used.emplace(ps.executor, ps.spec->name);
  for (const auto& [name, step] : used) {
    auto it = executors_.find(name);
    if (it == executors_.end())
      return Status::precondition("step " + step + ": executor '" + name +
                                  "' is not available in this engine");
    if (Status s = it->second->preflight(); !s.is_ok())
      return Status(s.code(), "step " + step + ": " + s.message());
  }
  return Status::ok();
}

Result<Plan> Runner::plan(std::shared_ptr<const LoadedPipeline> pipeline) const {
  return Plan::build(std::move(pipeline), *host_);
}

Result<int64_t> record_run(store::Store& store, const LoadedPipeline& pipeline,
                           const RunOrigin& origin) {
  if (!pipeline.spec) return Status::invalid("no pipeline to run");
  const PipelineSpec& spec = *pipeline.spec;
  store::NewRun nr;
  nr.pipeline = spec.name;
  nr.pipeline_file = pipeline.file;
  nr.spec_digest = pipeline.digest;
  nr.spec_text = pipeline.text;
  nr.params_json = origin.params ? origin.params->dump() : spec.param_values.dump();
  nr.trigger = origin.trigger;
  nr.parent_run = origin.parent_run;
  nr.cycle = origin.cycle;
  nr.trigger_info_json = origin.info.dump();
  std::vector<std::string> names;
  names.reserve(spec.steps.size());
  for (const auto& s : spec.steps) names.push_back(s.name);
  return store.create_run(nr, names);
}

Result<int64_t> Runner::start(const LoadedPipeline& pipeline, const RunOrigin& origin) {
  return record_run(store_, pipeline, origin);
}

Result<RunSummary> Runner::execute(int64_t run_id, const RunOptions& options, const Plan* plan) {
  // One engine at a time: the lease comes before anything of the run is read or written, and
  // goes when the run stops, whatever the way.
  auto interrupt = options.interrupt ? options.interrupt : std::make_shared<std::atomic<bool>>();
  auto lease = RunLease::acquire(store_, run_id, interrupt, options.lease);
  if (!lease) return lease.status();
  auto result = execute_owned(run_id, options, plan, interrupt);
  if (lease.value()->lost())
    return Status::internal("run " + std::to_string(run_id) +
                            ": another engine took the run over while this one executed it");
  Status released = lease.value()->release();
  if (released.is_ok()) return result;
  const std::string why = "its lease could not be released: " + released.message();
  if (!result) return Status(result.status().code(), result.status().message() + "; " + why);
  return Status(released.code(), "run " + std::to_string(run_id) + " ended " +
                                     to_string(result->state) + ", but " + why);
}

Result<RunSummary> Runner::execute_owned(int64_t run_id, const RunOptions& options,
                                         const Plan* plan,
                                         std::shared_ptr<std::atomic<bool>> interrupt) {
  auto run = store_.get_run(run_id);
  if (!run) return run.status();
  if (plan && plan->pipeline().digest != run->spec_digest)
    return Status::invalid("run " + std::to_string(run_id) +
                           ": the pipeline given is not the one recorded with the run");
  std::optional<Plan> recorded;
  if (!plan) {  // resume: the run's recorded text is the pipeline
    LoadOptions lo;
    lo.require_params = false;
    auto loaded = std::make_shared<LoadedPipeline>(
        LoadedPipeline::from_text(run->spec_text, run->pipeline_file, lo));
    if (!loaded->ok())
      return Status::invalid(
          "run " + std::to_string(run_id) +
          ": its recorded pipeline no longer loads:" + error_lines(loaded->diagnostics));
    auto built = Plan::build(std::move(loaded), *host_);
    if (!built)
      return Status(built.status().code(),
                    "run " + std::to_string(run_id) + ": " + built.status().message());
    recorded.emplace(std::move(built.value()));
    plan = &*recorded;
  }
  if (Status s = preflight(*plan); !s.is_ok())
    return Status(s.code(), "run " + std::to_string(run_id) + " cannot start: " + s.message());
  const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
  RunLoopOptions lo;
  lo.max_parallel = options.max_parallel > 0 ? options.max_parallel : cores;
  lo.no_cache = options.no_cache;
  lo.fail_fast = options.fail_fast;
  lo.grace_s = options.grace_s;
  lo.cpu_capacity = cores;
  lo.memory_capacity = int64_t(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGE_SIZE);
  lo.on_event = options.on_event;
  lo.interrupt = interrupt;
  RunRecorder recorder(store_, run_id);
  SteadyClock clock;
  RunLoop loop(*plan, std::move(run.value()), store_, *host_, recorder, executors_, clock,
               std::move(lo));
  return loop.run();
}

Result<RunSummary> Runner::run(std::shared_ptr<const LoadedPipeline> pipeline,
                               const RunOrigin& origin, const RunOptions& options) {
  auto plan = Plan::build(std::move(pipeline), *host_);
  if (!plan) return plan.status();
  auto id = start(plan->pipeline(), origin);
  if (!id) return id.status();
  return execute(id.value(), options, &plan.value());
}

}  // namespace llmops::engine
