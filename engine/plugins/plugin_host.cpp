#include "engine/plugins/plugin_host.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include <boost/dll/shared_library.hpp>

#include "base/hash.hpp"
#include "engine/plugins/exec_manifest.hpp"
#include "engine/plugins/exec_plugin.hpp"
#include "store/blob_store.hpp"

namespace fs = std::filesystem;
namespace dll = boost::dll;

namespace llmops::engine {

namespace {

std::vector<PortSpec> parse_ports(const char* text, const std::string& what, std::string* err) {
  std::vector<PortSpec> out;
  if (!text || !*text) return out;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_array()) {
    *err = "descriptor " + what + " is not a JSON array";
    return out;
  }
  for (const auto& p : j) {
    if (!p.is_object() || !p.contains("name")) {
      *err = "descriptor " + what + " entry without a name";
      continue;
    }
    PortSpec s;
    s.name = p.value("name", "");
    s.kind = p.value("kind", "any");
    s.required = p.value("required", true);
    out.push_back(std::move(s));
  }
  return out;
}

fs::path self_exe_dir() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : p.parent_path();
}

}  // namespace

std::vector<fs::path> default_plugin_dirs() {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("LLMOPS_PLUGIN_PATH")) {
    std::stringstream ss(env);
    std::string item;
    while (std::getline(ss, item, ':'))
      if (!item.empty()) dirs.emplace_back(item);
  }
  const auto exe = self_exe_dir();
  for (const auto& d : {exe / ".." / "plugins", exe / ".." / "lib" / "llmops" / "plugins"}) {
    std::error_code ec;
    if (fs::is_directory(d, ec)) dirs.push_back(fs::weakly_canonical(d, ec));
  }
  return dirs;
}

namespace {

// The descriptor of a loaded library (see read_descriptor).
Result<PluginInfo> describe(const dll::shared_library& lib, const fs::path& library) {
  PluginInfo info;
  info.path = library.string();
  try {
    if (!lib.has("llmops_plugin_descriptor"))
      return Status::invalid(library.string() +
                             ": not an llmops plugin (no llmops_plugin_descriptor)");
    const auto& d = lib.get<const llmops_plugin_descriptor_t>("llmops_plugin_descriptor");
    info.abi_major = d.abi_major;
    info.abi_minor = d.abi_minor;
    info.kind = d.kind ? d.kind : "";
    info.name = d.name ? d.name : "";
    info.id = info.kind + "/" + info.name;
    if (d.abi_major != LLMOPS_ABI_MAJOR || d.abi_minor > LLMOPS_ABI_MINOR) {
      info.broken = "plugin " + info.id + " was built for ABI " + std::to_string(d.abi_major) +
                    "." + std::to_string(d.abi_minor) + ", this llmops has ABI " +
                    std::to_string(LLMOPS_ABI_MAJOR) + "." + std::to_string(LLMOPS_ABI_MINOR) +
                    ": rebuild it against this SDK";
      return info;  // the other fields may not be laid out as we expect: read no further
    }
    info.version = d.version ? d.version : "0.0.0";
    info.description = d.description ? d.description : "";
    info.executor = d.executor && *d.executor ? d.executor : "inprocess";
    // A 1.0 descriptor ends before `cacheable`: reading it would read past the plugin's symbol.
    info.cacheable = d.abi_minor >= 1 ? d.cacheable != 0 : default_cacheable(info.kind.c_str());
    std::string err;
    auto schema = nlohmann::json::parse(d.params_schema ? d.params_schema : "{}", nullptr, false);
    if (schema.is_discarded() || !schema.is_object())
      err = "descriptor params_schema is not a JSON object";
    else
      info.params_schema = std::move(schema);
    info.inputs = parse_ports(d.inputs, "inputs", &err);
    info.outputs = parse_ports(d.outputs, "outputs", &err);
    if (info.kind.empty() || info.name.empty()) err = "descriptor has an empty kind or name";
    if (!err.empty()) info.broken = err;
    if (!lib.has("llmops_plugin_create")) info.broken = "no llmops_plugin_create factory";
  } catch (const std::exception& e) {
    return Status::invalid(library.string() + ": cannot load: " + e.what());
  }
  return info;
}

}  // namespace

Result<PluginInfo> PluginHost::read_descriptor(const fs::path& library) {
  try {
    dll::shared_library lib(library, dll::load_mode::rtld_lazy | dll::load_mode::rtld_local);
    return describe(lib, library);
  } catch (const std::exception& e) {
    return Status::invalid(library.string() + ": cannot load: " + e.what());
  }
}

Result<PluginInfo> PluginHost::load(const fs::path& library) {
  if (is_exec_manifest(library)) {
    auto m = read_exec_manifest(library);
    if (!m) return m.status();
    std::lock_guard lock(mu_);
    manifests_[m->info.path] = std::make_shared<ExecManifest>(*m);
    return m->info;
  }
  std::shared_ptr<dll::shared_library> lib;
  try {
    lib = std::make_shared<dll::shared_library>(
        library, dll::load_mode::rtld_lazy | dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    return Status::invalid(library.string() + ": cannot load: " + e.what());
  }
  auto info = describe(*lib, library);
  if (info && info->broken.empty()) {
    std::lock_guard lock(mu_);
    libraries_[info->path] = lib;
  }
  return info;
}

PluginInfo scan_one(const fs::path& lib, const ScanOptions& opt, nlohmann::json& cache,
                    bool& cache_dirty);
nlohmann::json load_cache(const fs::path& file);
void save_cache(const fs::path& file, const nlohmann::json& cache);

std::shared_ptr<PluginHost> PluginHost::scan(const std::vector<fs::path>& dirs,
                                             const ScanOptions& options) {
  auto host = std::make_shared<PluginHost>();
  nlohmann::json cache = load_cache(options.cache_file);
  bool cache_dirty = false;
  std::vector<fs::path> seen;
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> files;
    // Executable plugins: the folder itself, or a folder in it, holding llmops-plugin.yaml.
    if (fs::is_regular_file(dir / kManifestName, ec)) files.push_back(dir / kManifestName);
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const auto name = e.path().filename().string();
      if (e.is_regular_file() && name.rfind("llmops-plugin-", 0) == 0 &&
          e.path().extension() == ".so")
        files.push_back(e.path());
      else if (e.is_directory() && fs::is_regular_file(e.path() / kManifestName, ec))
        files.push_back(e.path() / kManifestName);
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      auto canon = fs::weakly_canonical(f, ec);
      if (std::find(seen.begin(), seen.end(), canon) != seen.end()) continue;
      seen.push_back(canon);
      if (is_exec_manifest(canon)) {  // read here: a manifest runs no code
        auto m = read_exec_manifest(canon);
        PluginInfo info;
        if (m) {
          info = m->info;
        } else {
          info.path = canon.string();
          info.id = exec_manifest_name(canon);
          if (info.id.empty()) info.id = "?/" + canon.parent_path().filename().string();
          info.kind = info.id.substr(0, info.id.find('/'));
          info.name = info.id.substr(info.id.find('/') + 1);
          info.broken = m.status().message();
        }
        host->plugins_.push_back(std::move(info));
        continue;
      }
      if (!options.scanner.empty()) {
        host->plugins_.push_back(scan_one(canon, options, cache, cache_dirty));
        continue;
      }
      auto r = read_descriptor(canon);
      if (r) {
        host->plugins_.push_back(std::move(r.value()));
      } else {
        PluginInfo broken;
        broken.path = canon.string();
        broken.id = "?/" + canon.filename().string();
        broken.broken = r.status().message();
        host->plugins_.push_back(std::move(broken));
      }
    }
  }
  if (cache_dirty) save_cache(options.cache_file, cache);
  return host;
}

const PluginInfo* PluginHost::find(const std::string& id, const std::string& constraint) const {
  const PluginInfo* best = nullptr;
  for (const auto& p : plugins_) {
    if (p.id != id || !p.broken.empty()) continue;
    if (!constraint.empty() && !semver_satisfies(p.version, constraint)) continue;
    // Several versions on the path: the first folder wins, as with PATH.
    if (!best) best = &p;
  }
  if (!best)  // none usable: a broken one of that name, so the caller can say why
    for (const auto& p : plugins_)
      if (p.id == id && !p.broken.empty()) return &p;
  return best;
}

std::vector<std::string> PluginHost::ids() const {
  std::vector<std::string> out;
  for (const auto& p : plugins_)
    if (p.broken.empty()) out.push_back(p.id);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<std::shared_ptr<Plugin>> PluginHost::create(const PluginInfo& info) {
  if (!info.broken.empty()) return Status::precondition(info.id + ": " + info.broken);
  if (is_exec_manifest(info.path)) {
    {
      std::lock_guard lock(mu_);
      if (auto it = manifests_.find(info.path); it != manifests_.end())
        return make_exec_plugin(*std::static_pointer_cast<ExecManifest>(it->second));
    }
    auto m = read_exec_manifest(info.path);
    if (!m) return m.status();
    return make_exec_plugin(std::move(*m));
  }
  std::shared_ptr<dll::shared_library> lib;
  {
    std::lock_guard lock(mu_);
    auto& slot = libraries_[info.path];
    if (!slot) {
      try {
        slot = std::make_shared<dll::shared_library>(
            info.path, dll::load_mode::rtld_lazy | dll::load_mode::rtld_local);
      } catch (const std::exception& e) {
        libraries_.erase(info.path);
        return Status::internal(info.id + ": cannot load " + info.path + ": " + e.what());
      }
    }
    lib = std::static_pointer_cast<dll::shared_library>(slot);
  }
  try {
    auto& factory = lib->get<Plugin*()>("llmops_plugin_create");
    Plugin* raw = factory();
    if (!raw) return Status::internal(info.id + ": the plugin factory failed");
    // The deleter owns the library: the object's code stays mapped until it is destroyed.
    return std::shared_ptr<Plugin>(raw, [lib](Plugin* p) { delete p; });
  } catch (const std::exception& e) {
    return Status::internal(info.id + ": " + e.what());
  }
}

std::string PluginHost::library_digest(const PluginInfo& info) {
  if (info.path.empty()) return "builtin";
  std::lock_guard lock(mu_);
  auto it = digests_.find(info.path);
  if (it != digests_.end()) return it->second;
  std::string d;
  if (is_exec_manifest(info.path)) {
    d = exec_plugin_digest(fs::path(info.path).parent_path());
  } else {
    auto r = base::sha256_file_hex(info.path);
    d = r ? "sha256:" + r.value() : "unknown";
  }
  digests_[info.path] = d;
  return d;
}

}  // namespace llmops::engine
