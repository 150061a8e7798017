// The web UI's files (ui/web), embedded in the binary at build time (ui/cmake/embed_assets.cmake),
// or read from a folder (`llmops ui --assets DIR`) while working on them.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace llmops::ui {

struct Asset {
  const char* path;  // "/js/app.js"
  const char* mime;
  const unsigned char* data;
  size_t size;
  const char* etag;  // quoted
};

const std::vector<Asset>& assets();  // generated, sorted by path
size_t assets_total_bytes();         // generated

struct AssetBytes {
  std::string mime, etag, body;
};

// The file at `path` ("/js/app.js"), from `dir` when it is not empty, else embedded. nullopt when
// there is none (or the path leaves the folder).
std::optional<AssetBytes> find_asset(const std::string& path, const std::filesystem::path& dir);

}  // namespace llmops::ui
