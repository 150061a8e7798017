// InProcessExecutor (`executor: inprocess`): calls the plugin in the engine's own process, on a
// pool thread. The fastest way to run a step (tens of microseconds of overhead), for plugins
// trusted not to crash: a segfault here takes the engine down (use `subprocess` otherwise).
// Thread safety: as Executor.
#pragma once

#include <memory>

#include "engine/exec/executor.hpp"
#include "engine/plugins/plugin_host.hpp"

namespace llmops::engine {

class InProcessExecutor : public ThreadedExecutor {
 public:
  explicit InProcessExecutor(std::shared_ptr<PluginHost> host) : host_(std::move(host)) {}
  StepResult execute(const StepRequest& request) override;

 private:
  std::shared_ptr<PluginHost> host_;
};

}  // namespace llmops::engine
