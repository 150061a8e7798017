// testing/uncacheable: writes the run that executed it into output `out`, and says in its
// descriptor that it must never be served from the cache: the tests' stand-in for a plugin that
// acts on or observes a changing world. Built into the test-plugins folder only.
#include <fstream>

#include "llmops/artifacts.hpp"
#include "llmops/plugin.hpp"

namespace {
class Uncacheable : public llmops::Plugin {
 public:
  llmops::Status run(llmops::StepContext& ctx) override {
    std::ofstream(ctx.output("out", llmops::artifact_kind::kFile) / "run.txt") << ctx.run_id();
    return llmops::Status::ok();
  }
};
}  // namespace

LLMOPS_PLUGIN(Uncacheable, "testing", "uncacheable", "1.0.0",
              "Records the run that executed it; never served from the cache", "{}", "[]",
              R"([{"name":"out","kind":"file"}])", "inprocess", llmops::kNotCacheable)
