// testing/crash-on-load: crashes while its library is being loaded (a static initialiser), to
// prove that descriptors are read in a child process. Built into the test-plugins folder only.
#include <csignal>

#include "llmops/plugin.hpp"

namespace {
struct CrashAtLoad {
  CrashAtLoad() { std::raise(SIGSEGV); }
} crash_at_load;

class Never : public llmops::Plugin {
 public:
  llmops::Status run(llmops::StepContext&) override { return llmops::Status::ok(); }
};
}  // namespace

LLMOPS_PLUGIN(Never, "testing", "crash-on-load", "1.0.0", "Crashes when loaded",
              R"({"type":"object"})", "[]", "[]", "inprocess")
