// FakeStepContext: a StepContext for unit tests, built on the SDK alone.
//
// The engine gives a plugin a StepContext; a test gives it this one instead, so that a plugin's
// run() can be tested in a plain program with no engine, store or pipeline: set parameters and
// inputs, call run(), then look at the output folders, metrics, progress, logs and triggers it
// recorded. Copy it into your own plugin project. Not thread-safe (a test runs one step).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <llmops/plugin.hpp>

class FakeStepContext : public llmops::StepContext {
 public:
  using Value = std::variant<std::string, int64_t, double, bool>;

  struct Metric {
    std::string name;
    double value;
    int64_t step;
  };
  struct Trigger {
    std::string kind, reason, payload_json;
  };

  // Makes a fresh temporary folder that holds the outputs and the scratch folder; removed with
  // the context unless keep() was called (handy when a test fails and you want to look).
  FakeStepContext() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "llmops-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    root_ = tmpl;
  }
  ~FakeStepContext() override {
    std::error_code ec;
    if (!keep_) std::filesystem::remove_all(root_, ec);
  }
  FakeStepContext(const FakeStepContext&) = delete;
  FakeStepContext& operator=(const FakeStepContext&) = delete;

  // --- Set up the step ---
  // One overload per type so that literals pick the intended one (3 is an integer, not a bool).
  void set_param(const std::string& name, const std::string& v) { params_[name] = v; }
  void set_param(const std::string& name, const char* v) { params_[name] = std::string(v); }
  void set_param(const std::string& name, int v) { params_[name] = int64_t{v}; }
  void set_param(const std::string& name, int64_t v) { params_[name] = v; }
  void set_param(const std::string& name, double v) { params_[name] = v; }
  void set_param(const std::string& name, bool v) { params_[name] = v; }
  // An input as an upstream step would hand it over: a path (file or folder) and its kind.
  void add_input(const std::string& name, const std::filesystem::path& path,
                 const std::string& kind = "file") {
    inputs_.push_back({name, path, "", kind, "{}"});
  }
  void cancel() { cancelled_ = true; }
  void keep() { keep_ = true; }
  const std::filesystem::path& root() const { return root_; }

  // --- What the plugin did ---
  std::map<std::string, std::filesystem::path> outputs_made;  // name -> folder
  std::map<std::string, std::string> output_kinds;            // name -> artifact kind
  std::map<std::string, std::string> output_metadata;         // name -> JSON
  std::vector<Metric> metrics;
  std::vector<std::pair<double, double>> progress_calls;  // (done, total)
  std::vector<std::pair<llmops::LogLevel, std::string>> logs;
  std::vector<Trigger> triggers;

  // The last value reported for metric `name`, if any.
  std::optional<double> last_metric(const std::string& name) const {
    std::optional<double> v;
    for (const auto& m : metrics)
      if (m.name == name) v = m.value;
    return v;
  }

  // --- llmops::StepContext ---
  std::string run_id() const override { return "1"; }
  std::string step_name() const override { return "test"; }
  int attempt() const override { return 1; }

  bool has_param(const std::string& name) const override { return params_.count(name) != 0; }
  std::string param_string(const std::string& name, const std::string& def) const override {
    auto* v = get<std::string>(name);
    return v ? *v : def;
  }
  int64_t param_int(const std::string& name, int64_t def) const override {
    auto* v = get<int64_t>(name);
    return v ? *v : def;
  }
  double param_double(const std::string& name, double def) const override {
    if (auto* v = get<double>(name)) return *v;
    if (auto* v = get<int64_t>(name)) return static_cast<double>(*v);
    return def;
  }
  bool param_bool(const std::string& name, bool def) const override {
    auto* v = get<bool>(name);
    return v ? *v : def;
  }
  std::string param_json(const std::string& name) const override {
    auto it = params_.find(name);
    return it == params_.end() ? "null" : to_json(it->second);
  }
  std::string params_json() const override {
    std::string out = "{";
    for (const auto& [k, v] : params_)
      out += (out.size() > 1 ? "," : "") + quote(k) + ":" + to_json(v);
    return out + "}";
  }

  std::vector<llmops::Input> inputs() const override { return inputs_; }
  std::optional<llmops::Input> input(const std::string& name) const override {
    for (const auto& i : inputs_)
      if (i.name == name) return i;
    return std::nullopt;
  }

  std::filesystem::path output(const std::string& name, const std::string& kind) override {
    auto dir = root_ / "outputs" / name;
    std::filesystem::create_directories(dir);
    outputs_made[name] = dir;
    output_kinds[name] = kind;
    return dir;
  }
  void set_output_metadata(const std::string& name, const std::string& json) override {
    output_metadata[name] = json;
  }
  std::filesystem::path scratch_dir() override {
    auto dir = root_ / "scratch";
    std::filesystem::create_directories(dir);
    return dir;
  }

  void metric(const std::string& name, double value, int64_t step) override {
    metrics.push_back({name, value, step});
  }
  void progress(double done, double total, const std::string&) override {
    progress_calls.emplace_back(done, total);
  }
  void log(llmops::LogLevel level, const std::string& message) override {
    logs.emplace_back(level, message);
  }
  bool cancelled() const override { return cancelled_; }
  void trigger(const std::string& kind, const std::string& reason,
               const std::string& payload_json) override {
    triggers.push_back({kind, reason, payload_json});
  }

 private:
  template <typename T>
  const T* get(const std::string& name) const {
    auto it = params_.find(name);
    return it == params_.end() ? nullptr : std::get_if<T>(&it->second);
  }
  static std::string quote(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out + "\"";
  }
  static std::string to_json(const Value& v) {
    if (auto* s = std::get_if<std::string>(&v)) return quote(*s);
    if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
    if (auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
    std::ostringstream o;
    o << std::get<double>(v);
    return o.str();
  }

  std::filesystem::path root_;
  bool keep_ = false;
  bool cancelled_ = false;
  std::map<std::string, Value> params_;
  std::vector<llmops::Input> inputs_;
};
