// FakeStepContext: a StepContext for unit-testing a plugin without the engine.
//
// The engine hands a plugin's run() a StepContext; a test hands it this one instead, so a plugin
// can be tested in a plain program with no engine, store or pipeline: set parameters and inputs,
// call run(), then look at the output folders, metadata, metrics, progress, logs and triggers it
// recorded. Parameters convert between types as the engine converts them (an integer read with
// param_double, "3" read with param_int, ...), and output() hands out an empty folder as the
// engine does, so what passes here behaves the same in a pipeline.
//
// Header-only, SDK and standard library only (POSIX for the temporary folder); installed with the
// SDK as <llmops/testing/fake_step_context.hpp>. Set up and inspect a context from one thread;
// metric(), progress() and log() may also be called from threads the plugin starts, as the SDK
// allows. Derive from it to observe more (every StepContext method stays virtual).
#pragma once

#include <stdlib.h>  // mkdtemp

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "llmops/plugin.hpp"

namespace llmops::testing {

class FakeStepContext : public StepContext {
 public:
  struct Metric {
    std::string name;
    double value;
    int64_t step;
  };
  struct Progress {
    double done, total;
    std::string note;
  };
  struct Trigger {
    std::string kind, reason, payload_json;
  };

  // Outputs and the scratch folder go into a fresh temporary folder, removed with the context
  // unless keep() was called (handy when a test fails and you want to look).
  FakeStepContext() : root_(make_temp_dir()), owns_root_(true) {}
  // Outputs go to `root`/outputs/NAME and scratch to `root`/scratch; `root` is left in place, so
  // a second context on the same root sees what the first left in scratch (a retry, a resume).
  explicit FakeStepContext(std::filesystem::path root) : root_(std::move(root)) {
    std::filesystem::create_directories(root_);
  }
  ~FakeStepContext() override {
    std::error_code ec;
    if (owns_root_ && !keep_) std::filesystem::remove_all(root_, ec);
  }
  FakeStepContext(const FakeStepContext&) = delete;
  FakeStepContext& operator=(const FakeStepContext&) = delete;

  // --- Set up the step ---

  // One overload per type so that a literal picks the intended one (3 is an integer, not a bool).
  void set_param(const std::string& name, const std::string& v) { params_[name] = v; }
  void set_param(const std::string& name, const char* v) { params_[name] = std::string(v); }
  void set_param(const std::string& name, int v) { params_[name] = int64_t{v}; }
  void set_param(const std::string& name, int64_t v) { params_[name] = v; }
  void set_param(const std::string& name, double v) { params_[name] = v; }
  void set_param(const std::string& name, bool v) { params_[name] = v; }
  // A list or map, as JSON text: set_param_json("layers", R"(["q_proj","v_proj"])"). A "null"
  // (a YAML `~` in `with:`) is listed by params_json() but absent to has_param() and the getters,
  // as in the engine.
  void set_param_json(const std::string& name, const std::string& json) {
    params_[name] = Json{json};
  }
  // Every member of a JSON object as a parameter. `J` is nlohmann::json or any type with its
  // interface; this header itself needs no JSON library.
  template <typename J>
  void set_params(const J& object) {
    for (auto it = object.begin(); it != object.end(); ++it) {
      const auto& v = it.value();
      if (v.is_string())
        set_param(it.key(), v.template get<std::string>());
      else if (v.is_boolean())
        set_param(it.key(), v.template get<bool>());
      else if (v.is_number_integer())
        set_param(it.key(), v.template get<int64_t>());
      else if (v.is_number())
        set_param(it.key(), v.template get<double>());
      else
        set_param_json(it.key(), v.dump());
    }
  }

  // An input as an upstream step would hand it over: a file or folder, its kind and metadata.
  void add_input(const std::string& name, const std::filesystem::path& path,
                 const std::string& kind = "file", const std::string& metadata_json = "{}",
                 const std::string& digest = "") {
    inputs_.push_back({name, path, digest, kind, metadata_json});
  }

  void set_run_id(std::string id) { run_id_ = std::move(id); }
  void set_step_name(std::string name) { step_ = std::move(name); }
  void set_attempt(int attempt) { attempt_ = attempt; }
  // cancelled() turns true now, or once the plugin reports progress `done` >= `at`.
  void cancel() { cancel_at_progress(-INFINITY); }
  void cancel_at_progress(double at) { cancel_at_ = at; }
  void keep() { keep_ = true; }
  const std::filesystem::path& root() const { return root_; }

  // --- What the plugin did ---

  std::map<std::string, std::filesystem::path> outputs;  // name -> folder
  std::map<std::string, std::string> output_kinds;       // name -> artifact kind
  std::map<std::string, std::string> output_metadata;    // name -> JSON
  std::vector<Metric> metrics;                           // in the order reported
  std::vector<Progress> progress_calls;
  std::vector<std::pair<LogLevel, std::string>> logs;
  std::vector<Trigger> triggers;

  // The last value reported for metric `name`, if any.
  std::optional<double> last_metric(const std::string& name) const {
    std::lock_guard lock(mu_);
    std::optional<double> v;
    for (const auto& m : metrics)
      if (m.name == name) v = m.value;
    return v;
  }
  // Every (step, value) reported for metric `name`, in order: a loss curve.
  std::vector<std::pair<int64_t, double>> metric_series(const std::string& name) const {
    std::lock_guard lock(mu_);
    std::vector<std::pair<int64_t, double>> out;
    for (const auto& m : metrics)
      if (m.name == name) out.emplace_back(m.step, m.value);
    return out;
  }

  // --- StepContext ---

  std::string run_id() const override { return run_id_; }
  std::string step_name() const override { return step_; }
  int attempt() const override { return attempt_; }

  bool has_param(const std::string& name) const override { return find(name) != nullptr; }
  std::string param_string(const std::string& name, const std::string& def) const override {
    const Value* v = find(name);
    if (!v) return def;
    if (auto* s = std::get_if<std::string>(v)) return *s;
    return to_json(*v);
  }
  int64_t param_int(const std::string& name, int64_t def) const override {
    const Value* found = find(name);
    if (!found) return def;
    const Value& v = *found;
    if (auto* i = std::get_if<int64_t>(&v)) return *i;
    if (auto* d = std::get_if<double>(&v)) return static_cast<int64_t>(*d);
    if (auto* b = std::get_if<bool>(&v)) return *b ? 1 : 0;
    if (auto* s = std::get_if<std::string>(&v)) return parse<int64_t>(*s, def);
    return def;
  }
  double param_double(const std::string& name, double def) const override {
    const Value* found = find(name);
    if (!found) return def;
    const Value& v = *found;
    if (auto* d = std::get_if<double>(&v)) return *d;
    if (auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
    if (auto* s = std::get_if<std::string>(&v)) return parse<double>(*s, def);
    return def;
  }
  bool param_bool(const std::string& name, bool def) const override {
    const Value* found = find(name);
    if (!found) return def;
    const Value& v = *found;
    if (auto* b = std::get_if<bool>(&v)) return *b;
    if (auto* i = std::get_if<int64_t>(&v)) return *i != 0;
    if (auto* d = std::get_if<double>(&v)) return *d != 0;
    if (auto* s = std::get_if<std::string>(&v)) {
      if (*s == "true" || *s == "1" || *s == "yes") return true;
      if (*s == "false" || *s == "0" || *s == "no") return false;
    }
    return def;
  }
  std::string param_json(const std::string& name) const override {
    const Value* v = find(name);
    return v ? to_json(*v) : "null";
  }
  std::string params_json() const override {
    std::string out = "{";
    for (const auto& [k, v] : params_)
      out += (out.size() > 1 ? "," : "") + quote(k) + ":" + to_json(v);
    return out + "}";
  }

  std::vector<Input> inputs() const override { return inputs_; }
  std::optional<Input> input(const std::string& name) const override {
    for (const auto& i : inputs_)
      if (i.name == name) return i;
    return std::nullopt;
  }

  // Like the engine: the first call for a name gives an empty folder, later calls the same one.
  std::filesystem::path output(const std::string& name, const std::string& kind) override {
    auto it = outputs.find(name);
    if (it != outputs.end()) return it->second;
    const auto dir = root_ / "outputs" / name;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    outputs[name] = dir;
    output_kinds[name] = kind.empty() ? "file" : kind;
    return dir;
  }
  void set_output_metadata(const std::string& name, const std::string& json) override {
    output_metadata[name] = json;
  }
  std::filesystem::path scratch_dir() override {
    const auto dir = root_ / "scratch";
    std::filesystem::create_directories(dir);
    return dir;
  }

  void metric(const std::string& name, double value, int64_t step) override {
    std::lock_guard lock(mu_);
    metrics.push_back({name, value, step});
  }
  void progress(double done, double total, const std::string& note) override {
    std::lock_guard lock(mu_);
    progress_calls.push_back({done, total, note});
    last_done_ = done;
  }
  void log(LogLevel level, const std::string& message) override {
    std::lock_guard lock(mu_);
    logs.emplace_back(level, message);
  }
  bool cancelled() const override {
    std::lock_guard lock(mu_);
    return last_done_ >= cancel_at_;
  }
  void trigger(const std::string& kind, const std::string& reason,
               const std::string& payload_json) override {
    triggers.push_back({kind, reason, payload_json});
  }

 private:
  struct Json {
    std::string text;
  };
  using Value = std::variant<std::string, int64_t, double, bool, Json>;

  // The parameter, or null when it is absent or JSON null.
  const Value* find(const std::string& name) const {
    auto it = params_.find(name);
    if (it == params_.end()) return nullptr;
    if (auto* j = std::get_if<Json>(&it->second); j && j->text == "null") return nullptr;
    return &it->second;
  }
  static std::filesystem::path make_temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "llmops-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    return tmpl;
  }
  // The whole string as a number, else `def` (the engine's std::stoll/std::stod, but strict).
  template <typename T>
  static T parse(const std::string& s, T def) {
    char* end = nullptr;
    T v;
    if constexpr (std::is_same_v<T, double>)
      v = std::strtod(s.c_str(), &end);
    else
      v = std::strtoll(s.c_str(), &end, 10);
    return end != s.c_str() ? v : def;
  }
  // JSON string escapes as the engine writes them (nlohmann::json's dump()).
  static std::string quote(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
          } else {
            out += static_cast<char>(c);
          }
      }
    }
    return out + "\"";
  }
  // The shortest text that reads back as the same double, as a JSON number (null if not finite).
  static std::string number(double d) {
    if (!std::isfinite(d)) return "null";
    char buf[32];
    for (int precision = 1; precision <= 17; ++precision) {
      std::snprintf(buf, sizeof buf, "%.*g", precision, d);
      if (std::strtod(buf, nullptr) == d) break;
    }
    std::string s = buf;
    if (s.find_first_of(".e") == std::string::npos) s += ".0";  // still a float when read back
    return s;
  }
  static std::string to_json(const Value& v) {
    if (auto* s = std::get_if<std::string>(&v)) return quote(*s);
    if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
    if (auto* d = std::get_if<double>(&v)) return number(*d);
    if (auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
    return std::get<Json>(v).text;
  }

  std::filesystem::path root_;
  bool owns_root_ = false;
  bool keep_ = false;
  std::string run_id_ = "1";
  std::string step_ = "test";
  int attempt_ = 1;
  std::map<std::string, Value> params_;
  std::vector<Input> inputs_;
  mutable std::mutex mu_;  // metric(), progress(), log() may come from the plugin's threads
  double cancel_at_ = INFINITY;
  double last_done_ = -INFINITY;
};

}  // namespace llmops::testing
