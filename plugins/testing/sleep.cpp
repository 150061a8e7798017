// testing/sleep: waits `seconds`, reporting progress, and stops early when cancelled.
#include <chrono>
#include <thread>

#include "llmops/plugin.hpp"

namespace {
class Sleep : public llmops::Plugin {
 public:
  llmops::Status run(llmops::StepContext& ctx) override {
    using clock = std::chrono::steady_clock;
    const double seconds = ctx.param_double("seconds", 1.0);
    const bool ignore_cancel = ctx.param_bool("ignore_cancel", false);
    const auto start = clock::now();
    const auto end = start + std::chrono::duration<double>(seconds);
    while (clock::now() < end) {
      if (!ignore_cancel && ctx.cancelled()) return llmops::Status::cancelled("sleep cancelled");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      const double done = std::chrono::duration<double>(clock::now() - start).count();
      ctx.progress(std::min(done, seconds), seconds, "sleeping");
    }
    return llmops::Status::ok();
  }
};
}  // namespace

constexpr char kParamsSchema[] = R"({"type":"object","additionalProperties":false,"properties":{
                  "seconds":{"type":"number","minimum":0,"default":1,"description":"How long"},
                  "ignore_cancel":{"type":"boolean","default":false,
                                   "description":"Keep sleeping when cancelled, to test the grace period"}}})";

LLMOPS_PLUGIN(Sleep, "testing", "sleep", "1.0.0", "Sleeps, honouring cancellation", kParamsSchema,
              "[]", "[]", "inprocess", llmops::kCacheable)
