// The llmops plugin SDK: what a plugin author implements and what the engine gives it.
//
// A plugin is a shared library (CMake MODULE) that exports two C symbols, both written by
// LLMOPS_PLUGIN(...): `llmops_plugin_descriptor`, a plain-C description the host reads and checks
// before it touches any C++ symbol, and `llmops_plugin_create`, the factory. The engine owns the
// library for as long as any plugin object made from it lives.
//
// The StepContext is the plugin's whole world: parameters, inputs, output folders, metrics,
// progress, logs, cancellation, triggers and a scratch folder. It is implemented by the engine;
// a plugin must only use it from the thread that called run() (metric/progress/log are also safe
// from other threads the plugin starts). No exception may leave run(): return a Status.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "llmops/status.hpp"

// ABI rule: the host loads a plugin whose major equals its own and whose minor is <= its own.
// A minor only appends descriptor fields and StepContext methods; the host reads a field only
// from plugins whose minor has it. 1.1: `cacheable`.
#define LLMOPS_ABI_MAJOR 1
#define LLMOPS_ABI_MINOR 1

extern "C" {
// Plain C so that the host can read it from any plugin, whatever compiler built it.
struct llmops_plugin_descriptor_t {
  uint32_t abi_major;
  uint32_t abi_minor;
  const char* kind;     // curator | trainer | evaluator | deployer | monitor | testing | builtin
  const char* name;     // e.g. "noop"; the plugin id is "kind/name"
  const char* version;  // semver, e.g. "1.2.0"
  const char* description;    // one line
  const char* params_schema;  // JSON Schema (object) of the step's `with:`; "{}" when free-form
  const char* inputs;         // JSON array: [{"name":..,"kind":..,"required":bool}]
  const char* outputs;        // JSON array: [{"name":..,"kind":..}]
  const char* executor;       // preferred executor: "inprocess" or "subprocess"
  // Since ABI 1.1. 1: a step whose plugin file, parameters and inputs match an earlier successful
  // execution may reuse its outputs; 0: every step runs (the plugin acts on or observes a world
  // that changes). A host reading a 1.0 descriptor uses llmops::default_cacheable(kind).
  uint32_t cacheable;
};
}

namespace llmops {

// Values of the descriptor's `cacheable`.
inline constexpr uint32_t kCacheable = 1;
inline constexpr uint32_t kNotCacheable = 0;

// The `cacheable` of a plugin that does not state it (LLMOPS_PLUGIN with nine arguments, or a
// plugin built for ABI 1.0): deployers act on the world and monitors observe one that changes, so
// their steps always run; every other kind may be served from the cache.
constexpr bool default_cacheable(const char* kind) {
  auto is = [](const char* a, const char* b) {
    while (*a && *a == *b) ++a, ++b;
    return *a == *b;
  };
  return !kind || !(is(kind, "deployer") || is(kind, "monitor"));
}

// One resolved input of a step: an artifact sealed by an upstream step (or a literal path).
struct Input {
  std::string name;            // the name in the step's `inputs:`
  std::filesystem::path path;  // read-only file or folder
  std::string digest;          // "sha256:..." (empty for a literal path)
  std::string kind;            // artifact kind: dataset, model, report, file, ...
  std::string metadata_json;   // "{}" when none
};

enum class LogLevel { kDebug, kInfo, kWarn, kError };

class StepContext {
 public:
  virtual ~StepContext() = default;

  virtual std::string run_id() const = 0;
  virtual std::string step_name() const = 0;
  virtual int attempt() const = 0;  // 1 for the first try, 2 for the first retry, ...

  // Parameters (the step's resolved `with:`), typed with defaults.
  virtual bool has_param(const std::string& name) const = 0;
  virtual std::string param_string(const std::string& name, const std::string& def = "") const = 0;
  virtual int64_t param_int(const std::string& name, int64_t def = 0) const = 0;
  virtual double param_double(const std::string& name, double def = 0) const = 0;
  virtual bool param_bool(const std::string& name, bool def = false) const = 0;
  // A parameter as JSON text ("null" when absent): for lists and maps.
  virtual std::string param_json(const std::string& name) const = 0;
  virtual std::string params_json() const = 0;

  virtual std::vector<Input> inputs() const = 0;
  virtual std::optional<Input> input(const std::string& name) const = 0;

  // The folder to write output `name` into (created empty). After run() returns Ok the engine
  // seals every folder obtained this way as an artifact of `kind`.
  virtual std::filesystem::path output(const std::string& name, const std::string& kind) = 0;
  virtual void set_output_metadata(const std::string& name, const std::string& json) = 0;
  virtual std::filesystem::path scratch_dir() = 0;

  virtual void metric(const std::string& name, double value, int64_t step = -1) = 0;
  virtual void progress(double done, double total, const std::string& note = "") = 0;
  virtual void log(LogLevel level, const std::string& message) = 0;
  void info(const std::string& m) { log(LogLevel::kInfo, m); }
  void warn(const std::string& m) { log(LogLevel::kWarn, m); }
  void error(const std::string& m) { log(LogLevel::kError, m); }

  // True once the engine wants the step to stop (timeout, cancel, fail-fast). Check it often.
  virtual bool cancelled() const = 0;

  // Raise a feedback trigger (e.g. "drift") that the pipeline's `feedback:` block may act on.
  virtual void trigger(const std::string& kind, const std::string& reason,
                       const std::string& payload_json = "{}") = 0;
};

class Plugin {
 public:
  virtual ~Plugin() = default;
  virtual Status run(StepContext& ctx) = 0;
};

}  // namespace llmops

#define LLMOPS_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))

// Declares the descriptor and the factory of a plugin class.
//   LLMOPS_PLUGIN(MyPlugin, "trainer", "my-trainer", "1.0.0", "Trains things",
//                 R"({"type":"object"})", "[]", "[]", "inprocess")
//   LLMOPS_PLUGIN(MyDeployer, "deployer", "my-deployer", "1.0.0", "Deploys things",
//                 R"({"type":"object"})", "[]", "[]", "subprocess", llmops::kNotCacheable)
// The optional tenth argument is the descriptor's `cacheable`; without it the kind decides
// (default_cacheable), so a plugin written for ABI 1.0 keeps its behaviour when rebuilt.
#define LLMOPS_PLUGIN(...)                                              \
  LLMOPS_PLUGIN_PICK_(__VA_ARGS__, LLMOPS_PLUGIN_10_, LLMOPS_PLUGIN_9_, \
                      LLMOPS_PLUGIN_takes_9_or_10_arguments)            \
  (__VA_ARGS__)
#define LLMOPS_PLUGIN_PICK_(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, NAME, ...) NAME
#define LLMOPS_PLUGIN_9_(CLASS, KIND, NAME, VERSION, DESCRIPTION, PARAMS_SCHEMA, INPUTS, OUTPUTS, \
                         EXECUTOR)                                                                \
  LLMOPS_PLUGIN_10_(CLASS, KIND, NAME, VERSION, DESCRIPTION, PARAMS_SCHEMA, INPUTS, OUTPUTS,      \
                    EXECUTOR, ::llmops::default_cacheable(KIND))
#define LLMOPS_PLUGIN_10_(CLASS, KIND, NAME, VERSION, DESCRIPTION, PARAMS_SCHEMA, INPUTS, OUTPUTS, \
                          EXECUTOR, CACHEABLE)                                                     \
  LLMOPS_PLUGIN_EXPORT const llmops_plugin_descriptor_t llmops_plugin_descriptor = {               \
      LLMOPS_ABI_MAJOR,                                                                            \
      LLMOPS_ABI_MINOR,                                                                            \
      KIND,                                                                                        \
      NAME,                                                                                        \
      VERSION,                                                                                     \
      DESCRIPTION,                                                                                 \
      PARAMS_SCHEMA,                                                                               \
      INPUTS,                                                                                      \
      OUTPUTS,                                                                                     \
      EXECUTOR,                                                                                    \
      static_cast<uint32_t>(CACHEABLE)};                                                           \
  LLMOPS_PLUGIN_EXPORT ::llmops::Plugin* llmops_plugin_create() {                                  \
    try {                                                                                          \
      return new CLASS();                                                                          \
    } catch (...) {                                                                                \
      return nullptr;                                                                              \
    }                                                                                              \
  }
