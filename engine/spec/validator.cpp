// Pipeline validation against the plugin catalog and the graph (see engine/spec/validator.hpp).
#include "engine/spec/validator.hpp"

#include <algorithm>
#include <cmath>

#include "engine/plan/dag.hpp"
#include "engine/spec/template.hpp"

namespace llmops::engine {
namespace {

using nlohmann::json;

std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

std::string show(const json& v) {
  if (v.is_string()) return "'" + v.get<std::string>() + "'";
  return v.dump();
}

std::string json_type(const json& v) {
  if (v.is_string()) return "string";
  if (v.is_boolean()) return "boolean";
  if (v.is_number_integer()) return "integer";
  if (v.is_number()) return "number";
  if (v.is_array()) return "array";
  if (v.is_object()) return "object";
  return "null";
}

std::string with_article(const std::string& type) {
  bool vowel = !type.empty() && std::string("aeiou").find(type[0]) != std::string::npos;
  return (vowel ? "an " : "a ") + type;
}

bool type_matches(const json& v, const std::string& type) {
  if (type == "string") return v.is_string();
  if (type == "integer") {
    return v.is_number_integer() ||
           (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
  }
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  if (type == "array") return v.is_array();
  if (type == "object") return v.is_object();
  if (type == "null") return v.is_null();
  return true;  // unknown schema type: do not guess
}

class Validator {
 public:
  Validator(const PipelineSpec& spec, const PluginCatalog& catalog)
      : spec_(spec), catalog_(catalog) {}

  std::vector<Diagnostic> run() {
    for (const auto& step : spec_.steps) {
      names_.push_back(step.name);
      plugins_[step.name] = resolve_plugin(step);
    }
    for (const auto& p : spec_.params) params_.push_back(p.name);
    for (const auto& step : spec_.steps) {
      if (const PluginInfo* info = plugins_[step.name]) {
        check_with(step, *info);
        check_inputs(step, *info);
      }
      for (size_t i = 0; i < step.needs.size() && i < step.needs_pos.size(); ++i) {
        if (!spec_.find_step(step.needs[i])) {
          error(step.needs_pos[i], "step '" + step.name + "' needs unknown step '" + step.needs[i] +
                                       "'" + did_you_mean(step.needs[i], names_));
        }
      }
      for (const auto& t : step.templates) check_template(step, t);
    }
    if (auto cycle = Dag::build(spec_).find_cycle()) {
      const StepSpec* first = spec_.find_step(cycle->front());
      std::string text;
      for (const auto& n : *cycle) text += (text.empty() ? "" : " -> ") + n;
      error(first ? first->pos : SourcePos{},
            "cycle: " + text +
                "; remove one of these needs (or the template reference that implies it)");
    }
    return std::move(diags_);
  }

 private:
  void error(SourcePos pos, std::string message) {
    diags_.push_back({spec_.file, pos, std::move(message), false});
  }

  const PluginInfo* resolve_plugin(const StepSpec& step) {
    if (step.uses.empty()) return nullptr;  // missing or malformed: the loader said so
    if (const PluginInfo* info = catalog_.find(step.uses, step.version_constraint)) {
      if (!info->broken.empty()) {
        error(step.uses_pos, "plugin '" + step.uses + "' cannot be loaded: " + info->broken);
        return nullptr;
      }
      return info;
    }
    if (const PluginInfo* any = catalog_.find(step.uses, "")) {
      error(step.uses_pos, "plugin '" + step.uses + "' version " + any->version +
                               " does not satisfy '" + step.version_constraint + "' in step '" +
                               step.name +
                               "'; change the constraint or install a matching version");
      return nullptr;
    }
    auto ids = catalog_.ids();
    std::sort(ids.begin(), ids.end());
    error(step.uses_pos, "unknown plugin '" + step.uses + "' in step '" + step.name + "'" +
                             did_you_mean(step.uses, ids) +
                             (ids.empty() ? "; no plugins are installed"
                                          : " (known plugins: " + join_list(ids) + ")"));
    return nullptr;
  }

  SourcePos value_pos(const StepSpec& step, const std::string& ptr) const {
    auto it = step.with_value_pos.find(ptr);
    return it == step.with_value_pos.end() || it->second.line == 0 ? step.pos : it->second;
  }
  SourcePos key_pos(const StepSpec& step, const std::string& ptr) const {
    auto it = step.with_key_pos.find(ptr);
    return it == step.with_key_pos.end() ? value_pos(step, ptr) : it->second;
  }

  void check_with(const StepSpec& step, const PluginInfo& info) {
    if (!info.params_schema.is_object() || info.params_schema.empty()) return;
    check_value(step, info, step.with, info.params_schema, "", "");
  }

  // `name` is the parameter path for messages ("" for the whole `with:`).
  void check_value(const StepSpec& step, const PluginInfo& info, const json& v, const json& schema,
                   const std::string& ptr, const std::string& name) {
    if (!schema.is_object()) return;
    // A template is resolved at run time: its type is not known here.
    if (v.is_string() && v.get_ref<const std::string&>().find("${{") != std::string::npos) return;
    const std::string subject =
        name.empty() ? "'with' of step '" + step.name + "'"
                     : "parameter '" + name + "' of step '" + step.name + "' (" + info.id + ")";
    if (auto t = schema.find("type"); t != schema.end()) {
      std::vector<std::string> types;
      if (t->is_string()) types.push_back(t->get<std::string>());
      if (t->is_array()) {
        for (const auto& x : *t) {
          if (x.is_string()) types.push_back(x.get<std::string>());
        }
      }
      bool ok = types.empty() || std::any_of(types.begin(), types.end(),
                                             [&](const auto& ty) { return type_matches(v, ty); });
      if (!ok) {
        std::string want =
            types.size() == 1 ? with_article(types[0]) : "one of " + join_list(types);
        error(value_pos(step, ptr),
              subject + " must be " + want + ", got " + json_type(v) + " " + show(v));
        return;
      }
    }
    if (auto e = schema.find("enum"); e != schema.end() && e->is_array()) {
      if (std::find(e->begin(), e->end(), v) == e->end()) {
        std::vector<std::string> options;
        for (const auto& x : *e) options.push_back(show(x));
        error(value_pos(step, ptr),
              subject + " must be one of: " + join_list(options) + "; got " + show(v));
      }
    }
    if (v.is_number()) {
      double x = v.get<double>();
      auto bound = [&](const char* key, bool below, bool strict) {
        auto b = schema.find(key);
        if (b == schema.end() || !b->is_number()) return;
        double lim = b->get<double>();
        bool bad = below ? (strict ? x <= lim : x < lim) : (strict ? x >= lim : x > lim);
        if (bad) {
          error(value_pos(step, ptr), subject + " must be " +
                                          (below ? (strict ? "more than " : "at least ")
                                                 : (strict ? "less than " : "at most ")) +
                                          b->dump() + ", got " + v.dump());
        }
      };
      bound("minimum", true, false);
      bound("exclusiveMinimum", true, true);
      bound("maximum", false, false);
      bound("exclusiveMaximum", false, true);
    }
    if (v.is_array()) {
      if (auto items = schema.find("items"); items != schema.end()) {
        for (size_t i = 0; i < v.size(); ++i) {
          check_value(step, info, v[i], *items, ptr + "/" + std::to_string(i),
                      name + "[" + std::to_string(i) + "]");
        }
      }
    }
    if (v.is_object()) check_object(step, info, v, schema, ptr, name);
  }

  void check_object(const StepSpec& step, const PluginInfo& info, const json& v, const json& schema,
                    const std::string& ptr, const std::string& name) {
    static const json kEmpty = json::object();
    const json& props = schema.contains("properties") && schema["properties"].is_object()
                            ? schema["properties"]
                            : kEmpty;
    std::vector<std::string> known;
    for (auto it = props.begin(); it != props.end(); ++it) known.push_back(it.key());
    const std::string prefix = name.empty() ? "" : name + ".";
    if (auto req = schema.find("required"); req != schema.end() && req->is_array()) {
      for (const auto& r : *req) {
        if (!r.is_string() || v.contains(r.get<std::string>())) continue;
        std::string what = r.get<std::string>();
        std::string desc;
        if (props.contains(what) && props[what].is_object() && props[what].contains("description"))
          desc = " (" + props[what]["description"].get<std::string>() + ")";
        error(value_pos(step, ptr), "step '" + step.name + "' (" + info.id +
                                        ") is missing required parameter '" + prefix + what + "'" +
                                        desc + "; add it under with:");
      }
    }
    const json* additional =
        schema.contains("additionalProperties") ? &schema["additionalProperties"] : nullptr;
    for (auto it = v.begin(); it != v.end(); ++it) {
      std::string esc;
      for (char c : it.key()) esc += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
      const std::string child = ptr + "/" + esc;
      if (props.contains(it.key())) {
        check_value(step, info, it.value(), props[it.key()], child, prefix + it.key());
      } else if (additional && additional->is_boolean() && !additional->get<bool>()) {
        error(key_pos(step, child),
              "unknown parameter '" + prefix + it.key() + "' for " + info.id + " in step '" +
                  step.name + "'" + did_you_mean(it.key(), known) +
                  (known.empty() ? "; it takes no parameters"
                                 : " (its parameters: " + join_list(known) + ")"));
      } else if (additional && additional->is_object()) {
        check_value(step, info, it.value(), *additional, child, prefix + it.key());
      }
    }
  }

  // The output named by an input that is exactly `${{ steps.X.outputs.Y }}`, if it is one.
  static std::optional<std::vector<std::string>> output_ref(const std::string& text) {
    auto spans = find_templates(text);
    if (!spans || spans->size() != 1 || (*spans)[0].begin != 0 || (*spans)[0].end != text.size())
      return std::nullopt;
    auto refs = expression_refs((*spans)[0].expr);
    if (!refs || refs->size() != 1) return std::nullopt;
    const auto& ref = (*refs)[0];
    if (ref.size() != 4 || ref[0] != "steps" || ref[2] != "outputs") return std::nullopt;
    if (join_ref(ref) != (*spans)[0].expr) return std::nullopt;
    return ref;
  }

  void check_inputs(const StepSpec& step, const PluginInfo& info) {
    if (info.inputs.empty()) return;  // a plugin that declares no inputs takes any
    std::vector<std::string> declared;
    for (const auto& port : info.inputs) declared.push_back(port.name);
    for (const auto& [input, text] : step.inputs) {
      SourcePos pos = step.inputs_pos.count(input) ? step.inputs_pos.at(input) : step.pos;
      auto port = std::find_if(info.inputs.begin(), info.inputs.end(),
                               [&](const PortSpec& p) { return p.name == input; });
      if (port == info.inputs.end()) {
        error(pos, "unknown input '" + input + "' for " + info.id + " in step '" + step.name + "'" +
                       did_you_mean(input, declared) + " (its inputs: " + join_list(declared) +
                       ")");
        continue;
      }
      auto ref = output_ref(text);
      if (!ref) continue;
      const PluginInfo* up = plugins_.count((*ref)[1]) ? plugins_[(*ref)[1]] : nullptr;
      if (!up) continue;
      for (const auto& out : up->outputs) {
        if (out.name == (*ref)[3] && out.kind != port->kind && out.kind != "any" &&
            port->kind != "any") {
          error(pos, "input '" + input + "' of step '" + step.name + "' expects kind '" +
                         port->kind + "' but " + join_ref(*ref) + " is of kind '" + out.kind +
                         "' (" + up->id + ")");
        }
      }
    }
    for (const auto& port : info.inputs) {
      if (port.required && !step.inputs.count(port.name)) {
        error(step.pos, "step '" + step.name + "' (" + info.id + ") is missing required input '" +
                            port.name + "' (kind " + port.kind + "); add it under inputs:, e.g. " +
                            port.name + ": ${{ steps.STEP.outputs.NAME }}");
      }
    }
  }

  void check_template(const StepSpec& step, const TemplateRef& t) {
    auto refs = expression_refs(t.expr);
    if (!refs) {
      error(t.pos, "invalid expression in " + t.where + ": " + refs.status().message());
      return;
    }
    for (const auto& ref : *refs) check_ref(step, t, ref);
  }

  void check_ref(const StepSpec& step, const TemplateRef& t, const std::vector<std::string>& ref) {
    const std::string text = join_ref(ref);
    const std::string in = " in " + t.where;
    const std::string& root = ref[0];
    if (root == "params") {
      if (ref.size() < 2) {
        error(t.pos, "'params' alone is not a value" + in + "; write params.NAME");
      } else if (std::find(params_.begin(), params_.end(), ref[1]) == params_.end()) {
        error(t.pos, "unknown parameter '" + ref[1] + "' in '" + text + "'" + in +
                         did_you_mean(ref[1], params_) +
                         (params_.empty() ? "; the pipeline declares no parameters (add it under "
                                            "params:)"
                                          : " (declared parameters: " + join_list(params_) + ")"));
      }
    } else if (root == "steps") {
      if (ref.size() >= 2 && ref[1] == step.name) return;  // self-reference: the loader said so
      if (ref.size() < 2) {
        error(t.pos, "'steps' alone is not a value" + in + "; write steps.NAME.outputs.OUTPUT");
        return;
      }
      const StepSpec* other = spec_.find_step(ref[1]);
      if (!other) {
        error(t.pos, "unknown step '" + ref[1] + "' in '" + text + "'" + in +
                         did_you_mean(ref[1], names_));
        return;
      }
      if (ref.size() == 3 && ref[2] == "state") return;  // succeeded, failed, skipped, ...
      if (ref.size() < 4 || (ref[2] != "outputs" && ref[2] != "metrics")) {
        error(t.pos, "'" + text + "' is not a value" + in + "; write steps." + ref[1] +
                         ".outputs.NAME, steps." + ref[1] + ".metrics.NAME or steps." + ref[1] +
                         ".state");
        return;
      }
      const PluginInfo* up = plugins_[ref[1]];
      if (ref[2] == "outputs" && up && !up->outputs.empty()) {
        std::vector<std::string> outs;
        for (const auto& o : up->outputs) outs.push_back(o.name);
        if (std::find(outs.begin(), outs.end(), ref[3]) == outs.end()) {
          error(t.pos, "unknown output '" + ref[3] + "' in '" + text + "'" + in +
                           did_you_mean(ref[3], outs) + " (step '" + ref[1] + "' runs " + up->id +
                           ", whose outputs are: " + join_list(outs) + ")");
        }
      }
    } else if (root == "deployments") {
      auto more = check_deployments_ref(spec_, step, t, ref,
                                        plugins_.count(step.name) ? plugins_[step.name] : nullptr);
      diags_.insert(diags_.end(), more.begin(), more.end());
    } else if (root == "env") {
      if (ref.size() != 2) error(t.pos, "'" + text + "'" + in + ": write env.NAME");
    } else if (root == "run") {
      if (ref.size() != 2 ||
          std::find(kRunFields.begin(), kRunFields.end(), ref[1]) == kRunFields.end()) {
        std::vector<std::string> fields;
        for (const auto& f : kRunFields) fields.push_back("run." + f);
        error(t.pos, "unknown run field '" + text + "'" + in + "; available: " + join_list(fields));
      }
    } else {
      std::string hint;
      if (ref.size() == 1 && std::find(params_.begin(), params_.end(), root) != params_.end())
        hint = "; did you mean 'params." + root + "'?";
      if (hint.empty()) hint = "; references start with params., steps., env. or run.";
      error(t.pos, "unknown reference '" + text + "'" + in + hint);
    }
  }

  const PipelineSpec& spec_;
  const PluginCatalog& catalog_;
  std::vector<std::string> names_, params_;
  std::map<std::string, const PluginInfo*> plugins_;
  std::vector<Diagnostic> diags_;
};

}  // namespace

std::vector<Diagnostic> validate_pipeline(const PipelineSpec& spec, const PluginCatalog& catalog) {
  auto diags = Validator(spec, catalog).run();
  sort_diagnostics(diags);
  return diags;
}

}  // namespace llmops::engine
