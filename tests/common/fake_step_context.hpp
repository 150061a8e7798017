// The parameter and input half of a StepContext for plugin unit tests: parameters from a JSON
// object, inputs added by the test. Suites derive from it and add what they observe (outputs,
// metrics, triggers, cancellation).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmops/plugin.hpp"

namespace llmops::testing {

class FakeStepContextBase : public StepContext {
 public:
  FakeStepContextBase(nlohmann::json params, std::string step)
      : params_(std::move(params)), step_(std::move(step)) {}

  nlohmann::json params_;
  std::vector<Input> inputs_;

  void add_input(const std::string& name, const std::filesystem::path& p, const std::string& kind) {
    inputs_.push_back({name, p, "", kind, "{}"});
  }

  std::string run_id() const override { return "run"; }
  std::string step_name() const override { return step_; }
  int attempt() const override { return 1; }
  bool has_param(const std::string& n) const override { return find(n) != nullptr; }
  std::string param_string(const std::string& n, const std::string& d) const override {
    auto* v = find(n);
    return v && v->is_string() ? v->get<std::string>() : d;
  }
  int64_t param_int(const std::string& n, int64_t d) const override {
    auto* v = find(n);
    return v && v->is_number() ? v->get<int64_t>() : d;
  }
  double param_double(const std::string& n, double d) const override {
    auto* v = find(n);
    return v && v->is_number() ? v->get<double>() : d;
  }
  bool param_bool(const std::string& n, bool d) const override {
    auto* v = find(n);
    return v && v->is_boolean() ? v->get<bool>() : d;
  }
  std::string param_json(const std::string& n) const override {
    auto* v = find(n);
    return v ? v->dump() : "null";
  }
  std::string params_json() const override { return params_.dump(); }
  std::vector<Input> inputs() const override { return inputs_; }
  std::optional<Input> input(const std::string& n) const override {
    for (const auto& i : inputs_)
      if (i.name == n) return i;
    return std::nullopt;
  }

 private:
  const nlohmann::json* find(const std::string& n) const {
    auto it = params_.find(n);
    return it == params_.end() ? nullptr : &*it;
  }
  std::string step_;
};

}  // namespace llmops::testing
