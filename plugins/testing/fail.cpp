// testing/fail: fails its first `times` attempts, then succeeds (times < 0: always fails).
#include "llmops/plugin.hpp"

namespace {
class Fail : public llmops::Plugin {
 public:
  llmops::Status run(llmops::StepContext& ctx) override {
    const auto times = ctx.param_int("times", -1);
    const auto message = ctx.param_string("message", "failed on purpose");
    if (times < 0 || ctx.attempt() <= times) {
      ctx.error(message + " (attempt " + std::to_string(ctx.attempt()) + ")");
      return llmops::Status::internal(message);
    }
    ctx.info("succeeded on attempt " + std::to_string(ctx.attempt()));
    return llmops::Status::ok();
  }
};
}  // namespace

constexpr char kParamsSchema[] = R"({"type":"object","additionalProperties":false,"properties":{
                  "times":{"type":"integer","default":-1,"description":"Attempts that fail; -1: all"},
                  "message":{"type":"string","default":"failed on purpose"}}})";

LLMOPS_PLUGIN(Fail, "testing", "fail", "1.0.0", "Fails N times, then succeeds", kParamsSchema, "[]",
              "[]", "inprocess", llmops::kCacheable)
