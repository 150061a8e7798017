// testing/bad-abi: claims an ABI this host does not speak. Built into a separate folder (not the
// plugin folder) so only the tests that point LLMOPS_PLUGIN_PATH at it see it.
#include "llmops/plugin.hpp"

#undef LLMOPS_ABI_MAJOR
#define LLMOPS_ABI_MAJOR 99
#undef LLMOPS_ABI_MINOR
#define LLMOPS_ABI_MINOR 0

namespace {
class BadAbi : public llmops::Plugin {
 public:
  llmops::Status run(llmops::StepContext&) override { return llmops::Status::ok(); }
};
}  // namespace

LLMOPS_PLUGIN(BadAbi, "testing", "bad-abi", "1.0.0", "Built for a future ABI on purpose",
              R"({"type":"object"})", "[]", "[]", "inprocess")
