// Reading llmops-plugin.yaml; see exec_manifest.hpp.
#include "engine/plugins/exec_manifest.hpp"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "base/command.hpp"
#include "base/hash.hpp"
#include "engine/spec/loader.hpp"
#include "engine/spec/loader_impl.hpp"
#include "engine/spec/pipeline.hpp"
#include "llmops/plugin.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace llmops::engine {
namespace {

const std::vector<std::string> kKeys = {
    "protocol", "name",      "version", "description",   "run",     "params",   "inputs",
    "outputs",  "cacheable", "grace",   "hello_timeout", "timeout", "resources"};

// Hand-written checks rather than std::regex: a step's worker reads the manifest once per step,
// and compiling a regex costs more than the rest of the read.
bool is_identifier(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (unsigned char c : s)
    if (!(std::isalnum(c) || c == '_' || c == '-')) return false;
  return true;
}

// KIND/NAME: kind [a-z][a-z0-9-]*, name [a-z0-9][a-z0-9._-]*.
bool is_plugin_id(const std::string& s) {
  const auto slash = s.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= s.size()) return false;
  auto lower_digit = [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  if (!(s[0] >= 'a' && s[0] <= 'z') || !lower_digit(static_cast<unsigned char>(s[slash + 1])))
    return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (i == slash) continue;
    const bool extra = i > slash ? (c == '.' || c == '_' || c == '-') : c == '-';
    if (!lower_digit(c) && !extra) return false;
  }
  return true;
}

// MAJOR.MINOR.PATCH with an optional -pre or +build suffix.
bool is_semver(const std::string& s) {
  size_t i = 0;
  for (int part = 0; part < 3; ++part) {
    const size_t start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    if (i == start) return false;
    if (part < 2) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
  }
  if (i == s.size()) return true;
  if ((s[i] != '-' && s[i] != '+') || i + 1 == s.size()) return false;
  for (++i; i < s.size(); ++i)
    if (!std::isalnum(static_cast<unsigned char>(s[i])) && s[i] != '.' && s[i] != '-') return false;
  return true;
}

// Plain YAML to JSON (scalars: bool, int, float, else string; quoted stays a string).
json to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& e : n) a.push_back(to_json(e));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const auto s = n.Scalar();
      if (n.Tag() == "!") return s;
      if (s == "true" || s == "false") return s == "true";
      if (s == "null" || s == "~") return nullptr;
      char* end = nullptr;
      const long long i = std::strtoll(s.c_str(), &end, 10);
      if (!s.empty() && *end == '\0') return i;
      const double d = std::strtod(s.c_str(), &end);
      if (!s.empty() && *end == '\0') return d;
      return s;
    }
    default:
      return nullptr;
  }
}

class Problems {
 public:
  explicit Problems(fs::path file) : file_(std::move(file)) {}
  void add(const YAML::Node& at, const std::string& msg) {
    const auto m = at.Mark();
    std::ostringstream s;
    s << file_.string();
    if (!at.IsNull() || m.line >= 0) s << ":" << m.line + 1 << ":" << m.column + 1;
    s << ": " << msg;
    list_.push_back(s.str());
  }
  void add_top(const std::string& msg) { list_.push_back(file_.string() + ": " + msg); }
  bool empty() const { return list_.empty(); }
  std::string text() const {
    std::string out;
    for (const auto& l : list_) out += (out.empty() ? "" : "\n") + l;
    return out;
  }

 private:
  fs::path file_;
  std::vector<std::string> list_;
};

std::vector<PortSpec> read_ports(const YAML::Node& n, const char* what, bool outputs, Problems& p) {
  std::vector<PortSpec> out;
  if (!n) return out;
  if (!n.IsMap()) {
    p.add(n, std::string(what) + " must be a map of name: {kind: KIND" +
                 (outputs ? "" : ", required: true|false") + "}");
    return out;
  }
  for (const auto& kv : n) {
    PortSpec s;
    s.name = kv.first.as<std::string>();
    if (!is_identifier(s.name))
      p.add(kv.first, std::string(what) + " name '" + s.name + "' must be an identifier");
    const auto& v = kv.second;
    if (v.IsScalar()) {
      s.kind = v.Scalar();
    } else if (v.IsMap()) {
      s.kind = v["kind"] ? v["kind"].as<std::string>() : "any";
      if (v["required"]) s.required = v["required"].as<bool>();
      for (const auto& f : v)
        if (f.first.as<std::string>() != "kind" && f.first.as<std::string>() != "required")
          p.add(f.first, "unknown key '" + f.first.as<std::string>() + "' in " + what + "." +
                             s.name + " (known: kind" + (outputs ? "" : ", required") + ")");
    } else {
      p.add(v, std::string(what) + "." + s.name + " must be a kind or {kind: KIND}");
    }
    out.push_back(s);
  }
  return out;
}

double read_duration(const YAML::Node& n, const char* key, double def, Problems& p) {
  if (!n) return def;
  auto d = parse_duration(n.Scalar());
  if (!n.IsScalar() || !d || *d <= 0) {
    p.add(n, std::string(key) + " must be a duration such as 10s or 2m");
    return def;
  }
  return *d;
}

}  // namespace

bool is_exec_manifest(const fs::path& path) {
  return path.filename() == kManifestName;
}

std::string exec_manifest_name(const fs::path& manifest) {
  try {
    std::error_code ec;
    if (fs::file_size(manifest, ec) > kMaxManifestBytes || ec) return "";
    const auto name = YAML::LoadFile(manifest.string())["name"];
    if (name && name.IsScalar() && is_plugin_id(name.Scalar())) return name.Scalar();
  } catch (const std::exception&) {
  }
  return "";
}

Result<ExecManifest> read_exec_manifest(const fs::path& file) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec) return Status::invalid(file.string() + ": cannot read: " + ec.message());
  if (size > kMaxManifestBytes)
    return Status::invalid(file.string() + ": a manifest is at most 256 KiB");
  std::ifstream in(file, std::ios::binary);
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return parse_exec_manifest(text, file);
}

Result<ExecManifest> parse_exec_manifest(const std::string& text, const fs::path& file) {
  YAML::Node root;
  try {
    // Aliases are expanded when the manifest is walked: bound what a small file can become.
    LoadLimits limits;
    limits.max_nodes = 1 << 14;
    if (auto bad = detail::check_yaml_limits(text, limits))
      return Status::invalid(file.string() + ":" + std::to_string(bad->pos.line) + ":" +
                             std::to_string(bad->pos.col) + ": " + bad->message);
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    return Status::invalid(file.string() + ":" + std::to_string(e.mark.line + 1) + ":" +
                           std::to_string(e.mark.column + 1) + ": YAML syntax error: " + e.msg);
  } catch (const std::exception& e) {
    return Status::invalid(file.string() + ": cannot read: " + e.what());
  }
  Problems p(file);
  if (!root.IsMap()) return Status::invalid(file.string() + ": a plugin manifest must be a map");
  ExecManifest m;
  m.dir = fs::absolute(file).parent_path();
  auto& info = m.info;
  info.path = fs::absolute(file).string();
  info.abi_major = LLMOPS_ABI_MAJOR;
  info.abi_minor = LLMOPS_ABI_MINOR;
  info.executor = "subprocess";
  try {
    for (const auto& kv : root) {
      const auto k = kv.first.as<std::string>();
      if (std::find(kKeys.begin(), kKeys.end(), k) == kKeys.end())
        p.add(kv.first, "unknown key '" + k +
                            "' (known: protocol, name, version, description, "
                            "run, params, inputs, outputs, cacheable, grace, hello_timeout, "
                            "timeout, resources)");
    }
    // protocol: 1 or [1, 2]
    const auto proto = root["protocol"];
    if (!proto) {
      p.add_top("missing `protocol: " + std::to_string(kStepProtocolVersion) +
                "` (the step protocol versions the program speaks)");
    } else {
      if (proto.IsSequence())
        for (const auto& v : proto) m.protocols.push_back(v.as<int>());
      else
        m.protocols.push_back(proto.as<int>());
      if (std::find(m.protocols.begin(), m.protocols.end(), kStepProtocolVersion) ==
          m.protocols.end())
        p.add(proto, "this llmops speaks step protocol " + std::to_string(kStepProtocolVersion) +
                         "; the plugin offers none it knows: update the plugin or llmops");
    }
    const auto name = root["name"] ? root["name"].as<std::string>() : "";
    if (!is_plugin_id(name)) {
      p.add(root["name"],
            "name must be KIND/NAME in lower case, e.g. curator/lang-filter (got '" + name + "')");
    } else {
      info.id = name;
      info.kind = name.substr(0, name.find('/'));
      info.name = name.substr(name.find('/') + 1);
    }
    info.version = root["version"] ? root["version"].as<std::string>() : "";
    if (!is_semver(info.version))
      p.add(root["version"], "version must be semantic, e.g. 1.0.0 (got '" + info.version + "')");
    info.description = root["description"] ? root["description"].as<std::string>() : "";
    const auto run = root["run"];
    if (!run || !run.IsSequence() || run.size() == 0) {
      p.add(run, "run must be the program's argv as a list, e.g. [python3, main.py] (no shell)");
    } else {
      for (const auto& a : run) m.argv.push_back(a.as<std::string>());
      const auto& prog = m.argv[0];
      if (prog.find('/') != std::string::npos) {
        const auto full = prog[0] == '/' ? fs::path(prog) : m.dir / prog;
        if (::access(full.c_str(), X_OK) != 0)
          p.add(run, "the program " + full.string() + " is missing or not executable (chmod +x)");
      } else {
        if (base::find_on_path(prog).empty())
          p.add(run, "the program '" + prog + "' is not on PATH");
      }
    }
    if (const auto params = root["params"]) {
      auto schema = to_json(params);
      if (!schema.is_object() || (schema.contains("type") && schema["type"] != "object") ||
          (schema.contains("properties") && !schema["properties"].is_object()))
        p.add(params,
              "params must be a JSON Schema of an object: {type: object, properties: {...}}");
      else {
        if (schema.contains("properties"))
          for (auto& [k, v] : schema["properties"].items())
            if (!v.is_object())
              p.add(params, "params.properties." + k + " must be a schema (a map)");
        if (!schema.contains("type")) schema["type"] = "object";
        // A misspelt parameter is an error unless the manifest says otherwise.
        if (!schema.contains("additionalProperties")) schema["additionalProperties"] = false;
        info.params_schema = schema;
      }
    } else {
      info.params_schema = {
          {"type", "object"}, {"additionalProperties", false}, {"properties", json::object()}};
    }
    info.inputs = read_ports(root["inputs"], "inputs", false, p);
    info.outputs = read_ports(root["outputs"], "outputs", true, p);
    info.cacheable = root["cacheable"] ? root["cacheable"].as<bool>() : true;
    m.grace_s = read_duration(root["grace"], "grace", kMaxGraceSeconds, p);
    if (m.grace_s > kMaxGraceSeconds)
      p.add(root["grace"],
            "grace may be at most 4s: the engine stops the step's worker 5 s after "
            "cancelling it, and the program must be gone before that");
    info.default_timeout_s = read_duration(root["timeout"], "timeout", 0, p);
    if (const auto res = root["resources"]) {
      if (!res.IsMap()) {
        p.add(res, "resources must be a map: {cpus: 1, memory: 512Mi, gpus: 0}");
      } else {
        for (const auto& kv : res) {
          const auto k = kv.first.as<std::string>();
          const auto& v = kv.second;
          if (k == "cpus") {
            info.default_cpus = v.as<double>();
            if (info.default_cpus <= 0) p.add(v, "resources.cpus must be more than 0");
          } else if (k == "gpus") {
            info.default_gpus = v.as<int>();
            if (info.default_gpus < 0) p.add(v, "resources.gpus must be 0 or more");
          } else if (k == "memory") {
            auto bytes = v.IsScalar() ? parse_size(v.Scalar()) : std::nullopt;
            if (!bytes || *bytes <= 0)
              p.add(v, "resources.memory must be a size such as 512Mi, 2Gi or 4G");
            else
              info.default_memory = *bytes;
          } else {
            p.add(kv.first, "unknown key '" + k + "' in resources (known: cpus, memory, gpus)");
          }
        }
      }
    }
    m.hello_timeout_s = read_duration(root["hello_timeout"], "hello_timeout", 30, p);
  } catch (const std::exception& e) {  // YAML conversions, JSON of an unexpected shape
    p.add_top(std::string("unexpected value: ") + e.what());
  }
  if (!p.empty()) return Status::invalid(p.text());
  return m;
}

std::string exec_plugin_digest(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const auto n = it->path().filename().string();
    if (it->is_directory() && (n == "__pycache__" || n[0] == '.')) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  std::string all;
  for (const auto& f : files) {
    auto h = base::sha256_file_hex(f);
    all += fs::relative(f, dir, ec).string() + "=" + (h ? *h : "?") + "\n";
  }
  return "sha256:" + base::sha256_hex(all);
}

}  // namespace llmops::engine
