// Executable plugins: a folder with a manifest (`llmops-plugin.yaml`) and a program in any
// language that speaks the step protocol (docs/step-protocol.md). This reads the manifest into
// the PluginInfo that .so plugins get from their C descriptor, without running anything.
// Thread safety: free functions.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "engine/plugins/plugin_info.hpp"
#include "llmops/status.hpp"

namespace llmops::engine {

inline constexpr char kManifestName[] = "llmops-plugin.yaml";
inline constexpr int kStepProtocolVersion = 1;
// The worker running the program is itself stopped 5 s after a cancel (the executors' grace).
inline constexpr double kMaxGraceSeconds = 4;

struct ExecManifest {
  PluginInfo info;  // id, kind, name, version, schema, ports, cacheable, default timeout/resources
  std::vector<int> protocols;     // versions the program speaks
  std::vector<std::string> argv;  // argv[0]: a file in the folder or a program on PATH
  double grace_s = 4;             // SIGTERM -> SIGKILL (at most kMaxGraceSeconds)
  double hello_timeout_s = 30;    // start -> hello
  std::filesystem::path dir;      // the plugin folder (the program's working directory)
};

// Reads and checks `manifest` (a llmops-plugin.yaml). Errors name file:line:column and what to
// write instead; the program's existence is checked too.
Result<ExecManifest> read_exec_manifest(const std::filesystem::path& manifest);
// The same from the manifest's text (`manifest` names it in errors and locates the folder).
Result<ExecManifest> parse_exec_manifest(const std::string& text,
                                         const std::filesystem::path& manifest);
inline constexpr size_t kMaxManifestBytes = 256 * 1024;

bool is_exec_manifest(const std::filesystem::path& path);

// The `name:` of a manifest that may not check out ("" when unreadable), so a broken plugin is
// still reported under the name pipelines use.
std::string exec_manifest_name(const std::filesystem::path& manifest);

// "sha256:..." over the folder's files (names and contents, sorted): what cache keys name the
// plugin's code by.
std::string exec_plugin_digest(const std::filesystem::path& dir);

}  // namespace llmops::engine
