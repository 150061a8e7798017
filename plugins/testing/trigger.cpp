// testing/trigger: writes a small report and, when `fire` holds, raises a feedback trigger.
// Stands in for a monitor in the engine's feedback tests.
#include <fstream>

#include "llmops/artifacts.hpp"
#include "llmops/plugin.hpp"

namespace {
class Trigger : public llmops::Plugin {
 public:
  llmops::Status run(llmops::StepContext& ctx) override {
    const bool fire = ctx.param_bool("fire", true);
    const auto kind = ctx.param_string("kind", "drift");
    const auto reason = ctx.param_string("reason", "the world changed");
    std::ofstream(ctx.output("report", llmops::artifact_kind::kReport) / "report.json")
        << "{\"fired\":" << (fire ? "true" : "false") << ",\"run\":" << ctx.run_id() << "}";
    if (fire) ctx.trigger(kind, reason, "{\"score\":0.42}");
    return llmops::Status::ok();
  }
};
}  // namespace

constexpr char kParamsSchema[] = R"({"type":"object","additionalProperties":false,"properties":{
  "fire":{"type":"boolean","default":true,"description":"Raise the trigger"},
  "kind":{"type":"string","default":"drift"},
  "reason":{"type":"string","default":"the world changed"}}})";

LLMOPS_PLUGIN(Trigger, "testing", "trigger", "1.0.0", "Raises a feedback trigger on demand",
              kParamsSchema, "[]", R"([{"name":"report","kind":"report"}])", "inprocess",
              llmops::kCacheable)
