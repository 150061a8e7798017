// Looking up the web UI's files: see assets.hpp.
#include "ui/assets.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/hash.hpp"

namespace llmops::ui {

namespace {

std::string mime_of(const std::string& path) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".json", "application/json"}};
  for (const auto& [ext, type] : kTypes) {
    const size_t n = std::strlen(ext);
    if (path.size() >= n && path.compare(path.size() - n, n, ext) == 0) return type;
  }
  return "application/octet-stream";
}

}  // namespace

std::optional<AssetBytes> find_asset(const std::string& path, const std::filesystem::path& dir) {
  if (path.empty() || path[0] != '/' || path.find("..") != std::string::npos ||
      path.find('\\') != std::string::npos)
    return std::nullopt;
  if (!dir.empty()) {
    // Only below `dir`: "//etc/passwd" would make an absolute path that replaces it.
    const auto rel = std::filesystem::path(path.substr(1)).lexically_normal();
    if (rel.empty() || rel.is_absolute() || *rel.begin() == "..") return std::nullopt;
    const auto file = dir / rel;
    std::error_code ec;
    const auto real = std::filesystem::weakly_canonical(file, ec);
    const auto root = std::filesystem::weakly_canonical(dir, ec);
    if (ec || real.string().rfind(root.string() + "/", 0) != 0) return std::nullopt;
    if (!std::filesystem::is_regular_file(file, ec)) return std::nullopt;
    std::ifstream in(file, std::ios::binary);
    std::ostringstream body;
    body << in.rdbuf();
    AssetBytes a{mime_of(path), "", body.str()};
    a.etag = "\"" + base::sha256_hex(a.body).substr(0, 16) + "\"";
    return a;
  }
  const auto& all = assets();
  auto it = std::lower_bound(all.begin(), all.end(), path,
                             [](const Asset& a, const std::string& p) { return a.path < p; });
  if (it == all.end() || it->path != path) return std::nullopt;
  return AssetBytes{it->mime, it->etag,
                    std::string(reinterpret_cast<const char*>(it->data), it->size)};
}

}  // namespace llmops::ui
