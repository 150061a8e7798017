// testing/noop: does nothing and succeeds. Measures the engine's own per-step overhead.
#include "llmops/plugin.hpp"

namespace {
class Noop : public llmops::Plugin {
 public:
  llmops::Status run(llmops::StepContext&) override { return llmops::Status::ok(); }
};
}  // namespace

constexpr char kParamsSchema[] = R"({"type":"object","additionalProperties":false,"properties":{}})";

LLMOPS_PLUGIN(Noop, "testing", "noop", "1.0.0", "Does nothing and succeeds", kParamsSchema, "[]",
              "[]", "inprocess", llmops::kCacheable)
