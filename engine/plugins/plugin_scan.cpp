// Descriptor scanning in a child process, with a cache (see ScanOptions in plugin_host.hpp).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

#include "base/command.hpp"
#include "engine/plugins/plugin_host.hpp"

namespace fs = std::filesystem;

namespace llmops::engine {

namespace {

nlohmann::json ports_json(const std::vector<PortSpec>& v) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& p : v)
    a.push_back({{"name", p.name}, {"kind", p.kind}, {"required", p.required}});
  return a;
}

std::vector<PortSpec> ports_from(const nlohmann::json& a) {
  std::vector<PortSpec> out;
  if (!a.is_array()) return out;
  for (const auto& p : a)
    out.push_back({p.value("name", ""), p.value("kind", "any"), p.value("required", true)});
  return out;
}

// "size:mtime_ns" of a file, or "" when it cannot be read.
std::string stamp(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return "";
  return std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

// Runs `scanner scan-plugin lib`, bounded in time; returns its stdout or an error.
Result<std::string> run_scanner(const fs::path& scanner, const fs::path& lib) {
  auto out = base::run_command({scanner.string(), "scan-plugin", lib.string()}, 20);
  if (!out) return Status::internal("cannot start the plugin scanner " + scanner.string());
  if (out->timed_out) return Status::internal("loading the library hung (more than 20 s)");
  if (out->signal != 0)
    return Status::internal("loading the library crashed the scanner (signal " +
                            std::to_string(out->signal) + ", " + strsignal(out->signal) + ")");
  return std::move(out->out);
}

}  // namespace

fs::path default_descriptor_cache() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    return fs::path(x) / "llmops" / "plugin-descriptors.json";
  if (const char* h = std::getenv("HOME"); h && *h)
    return fs::path(h) / ".cache" / "llmops" / "plugin-descriptors.json";
  return {};
}

nlohmann::json plugin_info_to_json(const PluginInfo& p) {
  return {{"id", p.id},
          {"kind", p.kind},
          {"name", p.name},
          {"version", p.version},
          {"description", p.description},
          {"abi_major", p.abi_major},
          {"abi_minor", p.abi_minor},
          {"params_schema", p.params_schema},
          {"inputs", ports_json(p.inputs)},
          {"outputs", ports_json(p.outputs)},
          {"executor", p.executor},
          {"cacheable", p.cacheable},
          {"path", p.path},
          {"broken", p.broken}};
}

PluginInfo plugin_info_from_json(const nlohmann::json& j) {
  PluginInfo p;
  p.id = j.value("id", "");
  p.kind = j.value("kind", "");
  p.name = j.value("name", "");
  p.version = j.value("version", "");
  p.description = j.value("description", "");
  p.abi_major = j.value("abi_major", 0u);
  p.abi_minor = j.value("abi_minor", 0u);
  p.params_schema = j.value("params_schema", nlohmann::json::object());
  p.inputs = ports_from(j.value("inputs", nlohmann::json::array()));
  p.outputs = ports_from(j.value("outputs", nlohmann::json::array()));
  p.executor = j.value("executor", "inprocess");
  // Recorded before ABI 1.1 (no key): what the engine then decided by the plugin's kind.
  p.cacheable =
      j.contains("cacheable") ? j.value("cacheable", true) : default_cacheable(p.kind.c_str());
  p.path = j.value("path", "");
  p.broken = j.value("broken", "");
  return p;
}

// Reads one library's descriptor through the scanner (or the cache).
PluginInfo scan_one(const fs::path& lib, const ScanOptions& opt, nlohmann::json& cache,
                    bool& cache_dirty) {
  const std::string key = lib.string();
  const std::string st = stamp(lib);
  // An entry made by a host of another ABI may have read less of the descriptor (or refused it).
  const std::string abi = std::to_string(LLMOPS_ABI_MAJOR) + "." + std::to_string(LLMOPS_ABI_MINOR);
  if (cache.contains(key) && cache[key].value("stamp", "") == st &&
      cache[key].value("host_abi", "") == abi)
    return plugin_info_from_json(cache[key]["info"]);
  PluginInfo info;
  info.path = key;
  info.id = "?/" + lib.filename().string();
  auto out = run_scanner(opt.scanner, lib);
  if (!out) {
    info.broken = out.status().message();
  } else {
    auto j = nlohmann::json::parse(out.value(), nullptr, false);
    if (!j.is_object()) {
      info.broken = "the scanner printed no descriptor";
    } else if (j.contains("error")) {
      info.broken = j["error"].get<std::string>();
    } else {
      info = plugin_info_from_json(j);
    }
  }
  cache[key] = {{"stamp", st}, {"host_abi", abi}, {"info", plugin_info_to_json(info)}};
  cache_dirty = true;
  return info;
}

nlohmann::json load_cache(const fs::path& file) {
  if (file.empty()) return nlohmann::json::object();
  std::ifstream in(file);
  auto j = nlohmann::json::parse(in, nullptr, false);
  return j.is_object() ? j : nlohmann::json::object();
}

void save_cache(const fs::path& file, const nlohmann::json& cache) {
  if (file.empty()) return;
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  const auto tmp = file.string() + ".tmp" + std::to_string(getpid());
  {
    std::ofstream out(tmp);
    out << cache.dump();
    if (!out) return;  // a cache that cannot be written only costs time
  }
  fs::rename(tmp, file, ec);
  if (ec) fs::remove(tmp, ec);
}

}  // namespace llmops::engine
