// testing/crash: misbehaves on purpose, to prove that the subprocess executor contains it.
// mode: segv | abort | exit | hang | oom | throw.
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

#include "llmops/plugin.hpp"

namespace {
class Crash : public llmops::Plugin {
 public:
  llmops::Status run(llmops::StepContext& ctx) override {
    const auto mode = ctx.param_string("mode", "segv");
    ctx.info("about to " + mode);
    if (mode == "segv") std::raise(SIGSEGV);
    if (mode == "abort") std::abort();
    if (mode == "exit") std::exit(3);
    if (mode == "throw") throw std::runtime_error("thrown on purpose");
    if (mode == "hang") {
      // Ignores cancellation: only SIGKILL ends it.
      std::signal(SIGTERM, SIG_IGN);
      for (;;) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (mode == "oom") {
      std::vector<char*> blocks;
      for (;;) {
        char* p = static_cast<char*>(std::malloc(64 << 20));
        if (!p) return llmops::Status::internal("malloc failed: out of memory");
        std::memset(p, 1, 64 << 20);
        blocks.push_back(p);
      }
    }
    return llmops::Status::invalid("unknown mode '" + mode + "'");
  }
};
}  // namespace

constexpr char kParamsSchema[] =
    R"({"type":"object","additionalProperties":false,"properties":{
        "mode":{"type":"string","enum":["segv","abort","exit","hang","oom","throw"],
                "default":"segv","description":"How to misbehave"}}})";

LLMOPS_PLUGIN(Crash, "testing", "crash", "1.0.0",
              "Crashes, aborts, exits, hangs or leaks on purpose", kParamsSchema, "[]", "[]",
              "subprocess", llmops::kCacheable)
