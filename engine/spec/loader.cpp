// Pipeline loading: top level, params, `-p` overrides and defaults (steps: loader_steps.cpp).
#include "engine/spec/loader.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "engine/spec/loader_impl.hpp"

namespace llmops::engine {

using nlohmann::json;

bool LoadResult::ok() const {
  if (!spec) return false;
  for (const auto& d : diagnostics) {
    if (!d.warning) return false;
  }
  return true;
}

namespace detail {
namespace {

const std::vector<std::string> kTopKeys = {"apiVersion",  "kind",     "name",
                                           "description", "params",   "defaults",
                                           "steps",       "feedback", "schedule"};
const std::vector<std::string> kParamTypes = {"string", "int", "number", "bool", "list", "map"};

// Whether a resolved value fits a parameter type. Strings accept any scalar (kept as text).
bool fits_type(const std::string& type, const YAML::Node& node, json& value) {
  if (type == "string") {
    if (!node.IsScalar()) return false;
    value = node.Scalar();
    return true;
  }
  if (type == "int") return value.is_number_integer();
  if (type == "number") return value.is_number();
  if (type == "bool") return value.is_boolean();
  if (type == "list") return value.is_array();
  if (type == "map") return value.is_object();
  return false;
}

std::string type_from_value(const json& v) {
  if (v.is_boolean()) return "bool";
  if (v.is_number_integer()) return "int";
  if (v.is_number()) return "number";
  if (v.is_array()) return "list";
  if (v.is_object()) return "map";
  return "string";
}

std::string article(const std::string& type) {
  return (type == "int" ? "an " : "a ") + type;
}

// "-p" text -> typed value. The text passes the same limits as a file (it is YAML too).
std::optional<json> convert_override(const std::string& type, const std::string& text,
                                     const LoadLimits& limits) {
  if (type == "string") return json(text);
  if (type == "bool") {
    if (text == "true" || text == "yes" || text == "1" || text == "on") return json(true);
    if (text == "false" || text == "no" || text == "0" || text == "off") return json(false);
    return std::nullopt;
  }
  if (type == "int" || type == "number" || type == "list" || type == "map") {
    try {
      if (text.size() > limits.max_bytes || check_yaml_limits(text, limits)) return std::nullopt;
      YAML::Node node = YAML::Load(text);
      json v = yaml_to_json(node);
      if (type == "int" && v.is_number_integer()) return v;
      if (type == "number" && v.is_number()) return v;
      if (type == "list" && v.is_array()) return v;
      if (type == "map" && v.is_object()) return v;
    } catch (const YAML::Exception&) {
    }
  }
  return std::nullopt;
}

}  // namespace

LoadResult Loader::load(const std::string& text) {
  LoadResult result;
  if (text.size() > limits_.max_bytes) {
    error({}, "the pipeline is " + std::to_string(text.size()) + " bytes, more than the limit of " +
                  describe_bytes(limits_.max_bytes) +
                  ": pipeline files are small YAML documents; check that this is the right file, "
                  "or raise the limit with LLMOPS_MAX_PIPELINE_BYTES (e.g. 4Mi)");
    result.diagnostics = std::move(diags_);
    return result;
  }
  YAML::Node root;
  try {
    // Limits first: building the tree is linear in the text, but walking it expands aliases.
    if (auto over = check_yaml_limits(text, limits_)) {
      error(over->pos, over->message);
      result.diagnostics = std::move(diags_);
      return result;
    }
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    SourcePos pos{e.mark.line + 1, e.mark.column + 1};
    if (e.mark.line < 0) pos = {};
    error(pos, "YAML syntax error: " + e.msg);
    result.diagnostics = std::move(diags_);
    return result;
  } catch (const YAML::Exception& e) {
    error({}, std::string("cannot read the pipeline: ") + e.what());
    result.diagnostics = std::move(diags_);
    return result;
  }
  if (!root.IsMap()) {
    error(root.IsNull() ? SourcePos{1, 1} : pos_of(root),
          root.IsNull() ? "the file is empty: a pipeline needs apiVersion, kind, name and steps"
                        : "a pipeline file must be a mapping with apiVersion, kind, name and "
                          "steps, got " +
                              yaml_type_name(root));
    result.diagnostics = std::move(diags_);
    return result;
  }
  spec_.file = file_;
  {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines_.push_back(line);
  }
  const SourcePos root_pos = pos_of(root);
  std::map<std::string, Entry> top;
  for (auto& e : entries(root, root_pos, "the pipeline", kTopKeys)) top[e.key] = e;

  for (const char* key : {"apiVersion", "kind", "name", "steps"}) {
    if (!top.count(key)) {
      std::string example = std::string(key) == "apiVersion" ? " (apiVersion: llmops/v1)"
                            : std::string(key) == "kind"     ? " (kind: Pipeline)"
                                                             : "";
      error(root_pos, std::string("missing required key '") + key + "'" + example);
    }
  }
  if (top.count("apiVersion")) {
    auto v = get_string(top["apiVersion"], "the pipeline");
    if (v && *v != "llmops/v1") {
      error(top["apiVersion"].value_pos,
            "unsupported apiVersion '" + *v + "': this engine reads 'llmops/v1'");
    }
    if (v) spec_.api_version = *v;
  }
  if (top.count("kind")) {
    auto v = get_string(top["kind"], "the pipeline");
    if (v && *v != "Pipeline")
      error(top["kind"].value_pos, "kind must be 'Pipeline', got '" + *v + "'");
  }
  if (top.count("name")) {
    auto v = get_string(top["name"], "the pipeline");
    if (v && !matches_name(*v, false, false)) {
      error(top["name"].value_pos,
            "invalid pipeline name '" + *v +
                "': use lowercase letters, digits, '-' and '_', starting with a letter or digit");
    }
    if (v) spec_.name = *v;
  }
  if (top.count("description")) {
    if (auto v = get_string(top["description"], "the pipeline")) spec_.description = *v;
  }
  if (top.count("params")) load_params(top["params"]);
  apply_overrides();
  if (top.count("defaults")) load_defaults(top["defaults"]);
  if (top.count("steps")) load_steps(top["steps"]);
  for (const char* key : {"feedback", "schedule"}) {
    if (!top.count(key)) continue;
    const Entry& e = top[key];
    check_nested_duplicates(e.value, std::string("'") + key + "'");
    if (std::string(key) == "feedback") {
      // A single rule (a map) is addressed as rule 1, like a list of one.
      const std::string base = e.value.IsSequence() ? "" : "/0";
      spec_.feedback = yaml_to_json(e.value, base, &spec_.feedback_value_pos);
      spec_.feedback_pos = e.key_pos;
    } else {
      spec_.schedule = yaml_to_json(e.value);
      spec_.schedule_pos = e.key_pos;
    }
  }
  if (top.count("schedule")) load_schedule(top["schedule"]);
  result.spec = std::move(spec_);
  result.diagnostics = std::move(diags_);
  return result;
}

void Loader::load_defaults(const Entry& e) {
  const std::string what = "'defaults'";
  for (const auto& item :
       entries(e.value, e.value_pos, what, {"retries", "timeout", "executor", "slurm"})) {
    if (item.key == "retries") {
      if (auto r = get_retries(item, what, spec_.defaults.retries)) spec_.defaults.retries = *r;
    } else if (item.key == "timeout") {
      if (auto t = get_duration(item, what)) spec_.defaults.timeout_s = *t;
    } else if (item.key == "executor") {
      if (auto x = get_executor(item, what)) spec_.defaults.executor = *x;
    } else if (item.key == "slurm") {
      if (auto x = get_slurm(item, "'defaults'")) spec_.defaults.slurm = *x;
    }
  }
}

void Loader::load_params(const Entry& e) {
  for (const auto& p : entries(e.value, e.value_pos, "'params'", {})) {
    ParamSpec param;
    param.name = p.key;
    param.pos = p.key_pos;
    if (!matches_name(p.key, true, true) || std::isdigit(static_cast<unsigned char>(p.key[0]))) {
      error(p.key_pos, "invalid parameter name '" + p.key +
                           "': use letters, digits, '-' and '_', starting with a letter or '_'");
      continue;
    }
    const std::string what = "parameter '" + p.key + "'";
    bool has_default = false;
    YAML::Node default_node;
    SourcePos default_pos = p.value_pos;
    if (p.value.IsMap()) {
      for (const auto& item :
           entries(p.value, p.value_pos, what, {"type", "default", "description"})) {
        if (item.key == "type") {
          auto t = get_string(item, what);
          if (t && std::find(kParamTypes.begin(), kParamTypes.end(), *t) == kParamTypes.end()) {
            static const std::map<std::string, std::string> kAliases = {
                {"integer", "int"}, {"float", "number"}, {"double", "number"}, {"boolean", "bool"},
                {"str", "string"},  {"array", "list"},   {"object", "map"},    {"dict", "map"}};
            std::string hint = kAliases.count(*t) ? "; did you mean '" + kAliases.at(*t) + "'?"
                                                  : did_you_mean(*t, kParamTypes);
            error(item.value_pos, "unknown type '" + *t + "' for " + what + hint +
                                      " (expected one of: " + join(kParamTypes) + ")");
            t.reset();
          }
          param.type = t ? *t : "?";
        } else if (item.key == "default") {
          has_default = true;
          default_node = item.value;
          default_pos = item.value_pos;
        } else if (item.key == "description") {
          if (auto d = get_string(item, what)) param.description = *d;
        }
      }
    } else if (!p.value.IsNull()) {
      // Shorthand `name: VALUE`: the value is the default and gives the type.
      has_default = true;
      default_node = p.value;
    }
    bool bad = param.type == "?";  // already reported; keep the name to avoid follow-up errors
    if (has_default) {
      check_nested_duplicates(default_node, "the default of " + what);
      json value = yaml_to_json(default_node);
      if (param.type.empty()) param.type = type_from_value(value);
      if (!bad && !value.is_null() && !fits_type(param.type, default_node, value)) {
        error(default_pos, "the default of " + what + " must be " + article(param.type) + ", got " +
                               yaml_type_name(default_node) +
                               (param.type == "bool" ? " (write true or false)" : ""));
        value = nullptr;
      }
      param.default_value = value;
    } else {
      if (param.type.empty()) param.type = "string";
      param.required = !bad;
    }
    if (bad) param.type = "string";
    spec_.params.push_back(param);
  }
}

void Loader::apply_overrides() {
  std::vector<std::string> names;
  for (const auto& p : spec_.params) names.push_back(p.name);
  for (const auto& p : spec_.params) {
    if (!p.required) spec_.param_values[p.name] = p.default_value;
  }
  for (const auto& [key, text] : overrides_) {
    const std::string& name = key;  // (clang 14 cannot capture a structured binding)
    auto it = std::find_if(spec_.params.begin(), spec_.params.end(),
                           [&](const ParamSpec& p) { return p.name == name; });
    if (it == spec_.params.end()) {
      std::string known = names.empty() ? "the pipeline declares no parameters"
                                        : "the pipeline declares: " + join(names);
      std::string hint = did_you_mean(key, names);
      error({}, "unknown parameter '" + key + "' given with -p " + key + "=" + text + hint + " (" +
                    known + ")");
      continue;
    }
    auto value = convert_override(it->type, text, limits_);
    if (!value) {
      error({}, "-p " + key + "=" + text + ": parameter '" + key + "' is " + article(it->type) +
                    (it->type == "bool"     ? "; give true or false"
                     : it->type == "int"    ? "; give a whole number"
                     : it->type == "number" ? "; give a number"
                                            : "; give it as JSON, e.g. [1, 2] or {\"k\": 1}"));
      continue;
    }
    spec_.param_values[key] = *value;
  }
  for (const auto& p : spec_.params) {
    if (require_params_ && p.required && !spec_.param_values.contains(p.name)) {
      error(p.pos, "parameter '" + p.name + "' is required: pass it with -p " + p.name +
                       "=VALUE or give it a default");
    }
  }
}

}  // namespace detail

LoadResult load_pipeline_text(const std::string& text, const std::string& file,
                              const std::map<std::string, std::string>& overrides,
                              bool require_params, const LoadLimits& limits) {
  detail::Loader loader(file, overrides, require_params, limits);
  LoadResult result = loader.load(text);
  sort_diagnostics(result.diagnostics);
  return result;
}

LoadLimits default_load_limits() {
  LoadLimits limits;
  if (const char* env = std::getenv("LLMOPS_MAX_PIPELINE_BYTES"); env && *env) {
    // A value that is not a size keeps the default.
    if (auto bytes = parse_size(env); bytes && *bytes > 0) {
      limits.max_bytes = static_cast<size_t>(*bytes);
      limits.max_nodes = std::max<size_t>(limits.max_bytes / 4, 1024);
    }
  }
  return limits;
}

std::optional<std::string> read_pipeline_file(const std::filesystem::path& file,
                                              std::vector<Diagnostic>* diagnostics,
                                              size_t max_bytes) {
  namespace fs = std::filesystem;
  auto fail = [&](const std::string& message) {
    if (diagnostics) diagnostics->push_back({file.string(), {}, message, false});
    return std::nullopt;
  };
  const std::string raise =
      "pipeline files are small YAML documents; check that this is the right file, or raise the "
      "limit with LLMOPS_MAX_PIPELINE_BYTES (e.g. 4Mi)";
  std::error_code ec;
  const fs::file_status st = fs::status(file, ec);
  if (fs::is_directory(st))
    return fail("cannot read pipeline file: it is a folder; give the path of a YAML file");
  if (fs::is_regular_file(st)) {
    const auto size = fs::file_size(file, ec);
    if (!ec && size > max_bytes)
      return fail("the pipeline file is " + std::to_string(size) +
                  " bytes, more than the limit of " + detail::describe_bytes(max_bytes) + ": " +
                  raise);
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::string why = fs::exists(file, ec) ? "cannot read it (check permissions)" : "no such file";
    return fail("cannot open pipeline file: " + why);
  }
  // Never more than max_bytes + 1: a FIFO, a device (/dev/zero) or a file that grows meanwhile
  // stops there.
  std::string text;
  char buf[1 << 16];
  while (text.size() <= max_bytes) {
    const size_t want = std::min(sizeof buf, max_bytes + 1 - text.size());
    in.read(buf, static_cast<std::streamsize>(want));
    const auto got = static_cast<size_t>(in.gcount());
    text.append(buf, got);
    if (got < want) break;
  }
  if (in.bad()) return fail("cannot read pipeline file: read error");
  if (text.size() > max_bytes) {
    const std::string what = fs::is_regular_file(st)     ? "the file"
                             : fs::is_fifo(st)           ? "the pipe"
                             : fs::is_character_file(st) ? "the device"
                                                         : "it";
    return fail("read " + detail::describe_bytes(max_bytes) + " from " + what +
                " without reaching its end, more than the limit for a pipeline: " + raise);
  }
  return text;
}

LoadResult load_pipeline_file(const std::filesystem::path& file,
                              const std::map<std::string, std::string>& overrides,
                              bool require_params) {
  LoadResult result;
  auto text = read_pipeline_file(file, &result.diagnostics);
  if (!text) return result;
  return load_pipeline_text(*text, file.string(), overrides, require_params);
}

}  // namespace llmops::engine
