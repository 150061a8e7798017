// Templates (`${{ ... }}` inside pipeline strings) and `when:` expressions.
//
// A template holds an expression; an expression is literals (numbers, 'str' or "str", true,
// false, null), dotted references (params.x, steps.a.outputs.model,
// steps.a.outputs.blessing.blessed, steps.a.metrics.loss, env.NAME, run.id; and, as a whole
// `inputs:` value only, deployments.NAME.model: see engine/run/step_prep.hpp), comparisons (== != <
// <= > >=), && || !, and parentheses. References are resolved through a Scope that the caller
// provides (the validator uses expression_refs() instead and needs no values). A `when:` text may
// be a bare expression or contain `${{ }}` templates; a template inside an expression is the same
// as parentheses.
//
// Pure functions; thread-safe as long as the Scope is.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmops/status.hpp"

namespace llmops::engine {

// Lookup of a dotted reference like {"steps","a","outputs","model"} -> value; nullopt if unknown.
class Scope {
 public:
  virtual ~Scope() = default;
  virtual std::optional<nlohmann::json> lookup(const std::vector<std::string>& path) const = 0;
};

// A Scope over one JSON document: {"params":{..}, "steps":{"a":{"outputs":{..},"metrics":{..}}},
// "run":{"id":..}, "env":{..}}. With `process_env`, `env.NAME` missing from the document falls
// back to the process environment.
class JsonScope : public Scope {
 public:
  explicit JsonScope(nlohmann::json root, bool process_env = false)
      : root_(std::move(root)), process_env_(process_env) {}
  std::optional<nlohmann::json> lookup(const std::vector<std::string>& path) const override;

 private:
  nlohmann::json root_;
  bool process_env_;
};

// Positions in the string of "${{ ... }}": [begin, end) covers the braces; expr is the inside,
// trimmed.
struct TemplateSpan {
  size_t begin, end;
  std::string expr;
};

// Every template in `text`, in order. Error on an unclosed "${{" or an empty one.
Result<std::vector<TemplateSpan>> find_templates(const std::string& text);

// Renders all templates in a string. A string that is exactly one template yields the typed JSON
// value; otherwise values are stringified into the text (strings as is, null as "", numbers and
// booleans as JSON, arrays and objects as compact JSON).
Result<nlohmann::json> render_string(const std::string& text, const Scope& scope);
// Recursive over arrays and objects; only strings are rendered (keys are left alone).
Result<nlohmann::json> render_json(const nlohmann::json& value, const Scope& scope);

// Evaluates an expression (templates inside it act as parentheses).
Result<nlohmann::json> evaluate_expression(const std::string& expr, const Scope& scope);
// Evaluates a `when:` text and applies truthiness: false, null, 0, "" and empty arrays/objects
// are false; everything else is true. An empty text is true.
Result<bool> evaluate_condition(const std::string& when_text, const Scope& scope);
// Parses without evaluating and returns every reference, in order (duplicates kept). The error
// says what is wrong and at which column of the expression.
Result<std::vector<std::vector<std::string>>> expression_refs(const std::string& expr);

// Truthiness as used by evaluate_condition.
bool json_truthy(const nlohmann::json& value);
// How a value is written into a larger string by render_string.
std::string stringify_value(const nlohmann::json& value);
// "steps.a.outputs.model" from {"steps","a","outputs","model"}.
std::string join_ref(const std::vector<std::string>& path);

}  // namespace llmops::engine
