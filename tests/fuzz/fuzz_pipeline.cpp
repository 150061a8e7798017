// libFuzzer target for the pipeline loader (with its `feedback:` rules), the executable-plugin
// manifest reader and the expression language: any bytes given as a pipeline file or a
// llmops-plugin.yaml must load or produce diagnostics (never a crash, hang or uncaught
// exception), and any bytes given as a `when:` expression must evaluate or produce an error. The
// first byte picks: bit 0 a pipeline (else an expression), bit 1 also a manifest.
// The loader runs with a smaller node budget than a file gets (LoadLimits): an input of aliases
// expands to at most that many nodes, so each input stays fast; the limit's own checks (count,
// depth, cycles) are the same code either way.
//   see tests/fuzz/run_fuzzers.sh for the build command
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/plugins/exec_manifest.hpp"
#include "engine/spec/feedback_rules.hpp"
#include "engine/spec/loader.hpp"
#include "engine/spec/template.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace llmops::engine;
  if (size < 1) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    LoadLimits limits;
    limits.max_nodes = 1 << 14;
    auto r = load_pipeline_text(text, "fuzz.yaml", {{"x", "1"}}, true, limits);
    if (r.spec) (void)parse_feedback(*r.spec, &r.diagnostics);
    for (const auto& d : r.diagnostics) (void)d.str();
    if (data[0] & 2) (void)parse_exec_manifest(text, "/nonexistent/llmops-plugin.yaml");
  } else {
    JsonScope scope(nlohmann::json{{"params", {{"a", 1}, {"s", "text"}, {"b", true}}},
                                   {"steps", {{"t", {{"metrics", {{"loss", 0.5}}}}}}}});
    (void)expression_refs(text);
    (void)evaluate_expression(text, scope);
    (void)evaluate_condition(text, scope);
    (void)render_string(text, scope);
  }
  return 0;
}
