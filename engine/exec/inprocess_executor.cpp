#include "engine/exec/inprocess_executor.hpp"

#include "engine/exec/step_context.hpp"

namespace llmops::engine {

StepResult InProcessExecutor::execute(const StepRequest& request) {
  auto plugin = host_->create(request.plugin);
  if (!plugin) {
    StepResult r;
    r.status = plugin.status();
    return r;
  }
  return run_plugin(*plugin.value(), request);
}

}  // namespace llmops::engine
