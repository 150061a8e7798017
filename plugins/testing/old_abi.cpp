// monitor/old-abi: a plugin as a build against the ABI 1.0 SDK left it, to prove that a newer
// host still loads it and gives it the defaults of what 1.0 lacked (a monitor: never cached).
// Built into the test-plugins folder only.
#include <cstdint>
#include <fstream>

#include "llmops/plugin.hpp"

namespace {

// The 1.0 descriptor: the fields before `cacheable`, written out because the SDK's struct has
// moved on.
struct DescriptorV1_0 {
  uint32_t abi_major, abi_minor;
  const char *kind, *name, *version, *description, *params_schema, *inputs, *outputs, *executor;
};
// A word right after it, where a 1.1 descriptor keeps `cacheable`: set, so a host that read past
// a 1.0 descriptor would call this monitor cacheable and the tests would see it.
struct Exported {
  DescriptorV1_0 descriptor;
  uint32_t after;
};

class OldAbi : public llmops::Plugin {
 public:
  llmops::Status run(llmops::StepContext& ctx) override {
    std::ofstream(ctx.output("report", "report") / "report.json")
        << "{\"run\":" << ctx.run_id() << "}";
    return llmops::Status::ok();
  }
};

}  // namespace

LLMOPS_PLUGIN_EXPORT const Exported llmops_plugin_descriptor = {
    {1, 0, "monitor", "old-abi", "1.0.0", "Built against the ABI 1.0 SDK", "{}", "[]",
     R"([{"name":"report","kind":"report"}])", "inprocess"},
    1};

LLMOPS_PLUGIN_EXPORT llmops::Plugin* llmops_plugin_create() {
  try {
    return new OldAbi();
  } catch (...) {
    return nullptr;
  }
}
