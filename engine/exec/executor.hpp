// Executor: runs one attempt of one step and reports what it produced.
//
// The Runner builds a StepRequest (resolved parameters, inputs, work folder, cancellation flag)
// and calls execute() on a pool thread; the executor returns the plugin's Status, its declared
// outputs (folders still in the work folder; the Runner seals them), metrics and triggers.
// `inprocess` calls the plugin in this process; `subprocess` (engine/exec/subprocess_executor.hpp)
// runs it in a worker so that a crash fails only that step.
// Thread safety: execute() is called concurrently for different steps.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/plugins/plugin_host.hpp"
#include "llmops/plugin.hpp"

namespace llmops::engine {

struct OutputDecl {
  std::string name, kind;
  std::filesystem::path path;
  std::string metadata_json = "{}";
};

struct MetricPoint {
  std::string name;
  double value = 0;
  int64_t step = -1;
  double time = 0;
};

struct TriggerRecord {
  std::string kind, reason, payload_json;
  std::string step;  // filled by the Runner
};

struct StepRequest {
  int64_t run_id = 0;
  std::string step;
  int attempt = 1;
  PluginInfo plugin;
  nlohmann::json params = nlohmann::json::object();
  std::vector<Input> inputs;
  std::filesystem::path work_dir;  // outputs/ and scratch/ live here
  std::filesystem::path log_path;
  int64_t memory_limit = 0;  // bytes; 0: none (enforced by the subprocess executor)
  std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
  std::function<void(double done, double total, const std::string& note)> on_progress;
  std::function<void(LogLevel, const std::string&)> on_log;  // besides the log file
};

struct StepResult {
  Status status;
  std::vector<OutputDecl> outputs;
  std::vector<MetricPoint> metrics;
  std::vector<TriggerRecord> triggers;
};

class Executor {
 public:
  virtual ~Executor() = default;
  virtual StepResult execute(const StepRequest& request) = 0;
};

class InProcessExecutor : public Executor {
 public:
  explicit InProcessExecutor(std::shared_ptr<PluginHost> host) : host_(std::move(host)) {}
  StepResult execute(const StepRequest& request) override;

 private:
  std::shared_ptr<PluginHost> host_;
};

// Runs `plugin` against `request` in this thread, catching everything: the shared core of the
// in-process executor and of the `llmops exec-step` worker.
StepResult run_plugin(Plugin& plugin, const StepRequest& request);

}  // namespace llmops::engine
