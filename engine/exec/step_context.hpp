// StepContextImpl: the engine's implementation of the SDK's StepContext for one attempt.
//
// Collects outputs, metrics and triggers in memory for the Runner to seal and record; writes the
// step's log file lazily (no file for a step that logs nothing). Thread safety: metric, progress,
// log and trigger may be called from any thread of the plugin; the rest from run()'s thread.
#pragma once

#include <memory>
#include <mutex>

#include <spdlog/logger.h>

#include "engine/exec/executor.hpp"

namespace llmops::engine {

class StepContextImpl : public StepContext {
 public:
  explicit StepContextImpl(const StepRequest& request);
  ~StepContextImpl() override;

  std::string run_id() const override { return std::to_string(req_.run_id); }
  std::string step_name() const override { return req_.step; }
  int attempt() const override { return req_.attempt; }

  bool has_param(const std::string& name) const override;
  std::string param_string(const std::string& name, const std::string& def) const override;
  int64_t param_int(const std::string& name, int64_t def) const override;
  double param_double(const std::string& name, double def) const override;
  bool param_bool(const std::string& name, bool def) const override;
  std::string param_json(const std::string& name) const override;
  std::string params_json() const override { return req_.params.dump(); }

  std::vector<Input> inputs() const override { return req_.inputs; }
  std::optional<Input> input(const std::string& name) const override;

  std::filesystem::path output(const std::string& name, const std::string& kind) override;
  void set_output_metadata(const std::string& name, const std::string& json) override;
  std::filesystem::path scratch_dir() override;

  void metric(const std::string& name, double value, int64_t step) override;
  void progress(double done, double total, const std::string& note) override;
  void log(LogLevel level, const std::string& message) override;
  bool cancelled() const override { return req_.cancel && req_.cancel->load(); }
  void trigger(const std::string& kind, const std::string& reason,
               const std::string& payload_json) override;

  // Moves what the plugin produced into `result`.
  void collect(StepResult& result);

 private:
  const nlohmann::json* find(const std::string& name) const;

  const StepRequest& req_;
  std::mutex mu_;
  std::vector<OutputDecl> outputs_;
  std::vector<MetricPoint> metrics_;
  std::vector<TriggerRecord> triggers_;
  std::shared_ptr<spdlog::logger> log_;  // created on first use
};

// Appends one line "time level message" to a step log file (creating folders as needed).
void append_step_log(const std::filesystem::path& log_path, LogLevel level,
                     const std::string& message);

// Runs `plugin` against `request` in this thread, catching everything: the shared core of the
// in-process executor and of the `llmops exec-step` worker.
StepResult run_plugin(Plugin& plugin, const StepRequest& request);

}  // namespace llmops::engine
