// PluginInfo: what the engine knows about a plugin from its descriptor, without running it.
//
// Filled by the PluginHost (engine/plugins/plugin_host.hpp) from each library's C descriptor and
// used by the validator (parameter schemas, declared inputs/outputs) and the CLI. Plain data.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace llmops::engine {

struct PortSpec {
  std::string name;
  std::string kind;  // artifact kind; "any" accepts every kind
  bool required = true;
};

struct PluginInfo {
  std::string id;  // "kind/name"
  std::string kind;
  std::string name;
  std::string version;
  std::string description;
  unsigned abi_major = 0, abi_minor = 0;
  nlohmann::json params_schema = nlohmann::json::object();
  std::vector<PortSpec> inputs;
  std::vector<PortSpec> outputs;
  std::string executor;  // preferred
  // May a step reuse an earlier execution's outputs? The descriptor says (ABI >= 1.1).
  bool cacheable = true;
  // Defaults for steps that do not set them (executable plugins' manifests): 0 = none.
  double default_timeout_s = 0, default_cpus = 0;
  int64_t default_memory = 0;
  int default_gpus = 0;
  std::string path;    // library file (or manifest); empty for built-ins
  std::string digest;  // sha256 of the library file ("builtin" for built-ins)
  std::string broken;  // non-empty: why it cannot be loaded
};

// Read-only view of the known plugins, as the validator needs it.
class PluginCatalog {
 public:
  virtual ~PluginCatalog() = default;
  // nullptr when unknown. `constraint` is a semver range such as "^1.2" or "" (any).
  virtual const PluginInfo* find(const std::string& id, const std::string& constraint) const = 0;
  virtual std::vector<std::string> ids() const = 0;
  // What cache keys name the plugin's code by: the sha256 of its library ("builtin" without one).
  virtual std::string library_digest(const PluginInfo& info) {
    return info.path.empty() ? "builtin" : info.digest;
  }
};

// True when `version` satisfies `constraint` ("", "1.2.3", "^1.2", "~1.2", ">=1.0").
bool semver_satisfies(const std::string& version, const std::string& constraint);

}  // namespace llmops::engine
