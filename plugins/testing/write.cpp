// testing/write: writes `text` into output `out` (a folder holding `filename`).
#include <fstream>

#include "llmops/artifacts.hpp"
#include "llmops/plugin.hpp"

namespace {
class Write : public llmops::Plugin {
 public:
  llmops::Status run(llmops::StepContext& ctx) override {
    const auto text = ctx.param_string("text");
    const auto filename = ctx.param_string("filename", "out.txt");
    if (filename.empty() || filename.find('/') != std::string::npos || filename == "..")
      return llmops::Status::invalid("filename must be a plain file name, got '" + filename + "'");
    const auto dir = ctx.output("out", llmops::artifact_kind::kFile);
    std::ofstream f(dir / filename, std::ios::binary);
    f << text;
    if (!f) return llmops::Status::internal("cannot write " + (dir / filename).string());
    ctx.metric("bytes", static_cast<double>(text.size()));
    return llmops::Status::ok();
  }
};
}  // namespace

constexpr char kParamsSchema[] =
    R"({"type":"object","additionalProperties":false,"required":["text"],"properties":{
                  "text":{"type":"string","description":"What to write"},
                  "filename":{"type":"string","default":"out.txt"}}})";

LLMOPS_PLUGIN(Write, "testing", "write", "1.0.0", "Writes text from its parameters to a file",
              kParamsSchema, "[]", R"([{"name":"out","kind":"file"}])", "inprocess",
              llmops::kCacheable)
