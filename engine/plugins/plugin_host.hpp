// PluginHost: finds plugin libraries, reads their C descriptors and creates plugin objects.
//
// A plugin library is a file named `llmops-plugin-*.so` in one of the search folders. The host
// reads `llmops_plugin_descriptor` and checks the ABI (same major, plugin minor <= ours) before it
// looks up any C++ symbol. A created plugin keeps its library loaded for as long as it lives.
// Thread safety: scan() builds an immutable catalog; create() may be called from any thread.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/plugins/plugin_info.hpp"
#include "llmops/plugin.hpp"

namespace llmops::engine {

// Folders searched for plugins: $LLMOPS_PLUGIN_PATH (':'-separated), then those beside the
// running executable (<exe>/../plugins in a build tree, <exe>/../lib/llmops/plugins installed).
std::vector<std::filesystem::path> default_plugin_dirs();

struct ScanOptions {
  // The `llmops` binary: descriptors are read by `llmops scan-plugin LIB` in a child process, so
  // a plugin whose loading crashes is listed as broken instead of taking the caller down. Empty:
  // read them in this process.
  std::filesystem::path scanner;
  // Descriptors cached by path, size and mtime (JSON). Empty: no cache.
  std::filesystem::path cache_file;
};

// $XDG_CACHE_HOME/llmops/plugin-descriptors.json (or ~/.cache/...); empty when neither is set.
std::filesystem::path default_descriptor_cache();

nlohmann::json plugin_info_to_json(const PluginInfo& p);
PluginInfo plugin_info_from_json(const nlohmann::json& j);

class PluginHost : public PluginCatalog {
 public:
  // Reads every plugin library in `dirs`; broken ones are kept with `broken` set.
  static std::shared_ptr<PluginHost> scan(const std::vector<std::filesystem::path>& dirs,
                                          const ScanOptions& options = {});

  const PluginInfo* find(const std::string& id, const std::string& constraint) const override;
  std::vector<std::string> ids() const override;
  const std::vector<PluginInfo>& all() const { return plugins_; }

  // A new plugin object. The library is loaded once per host and unloaded with the last object.
  Result<std::shared_ptr<Plugin>> create(const PluginInfo& info);
  // sha256 of the library file (cached), "builtin" for built-ins.
  std::string library_digest(const PluginInfo& info) override;

  // Reads one library's descriptor (loads the library). Used by scan and by tests.
  static Result<PluginInfo> read_descriptor(const std::filesystem::path& library);
  // As read_descriptor, but the library stays loaded in this host, so create() does not load it
  // a second time (the `exec-step` worker reads and runs one plugin).
  Result<PluginInfo> load(const std::filesystem::path& library);

 private:
  std::vector<PluginInfo> plugins_;
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<void>> libraries_;  // path -> shared_library
  std::unordered_map<std::string, std::string> digests_;
  // Executable plugins read by load(): create() needs no second read.
  std::unordered_map<std::string, std::shared_ptr<void>> manifests_;
};

}  // namespace llmops::engine
